DROP TABLE memories, conversations, programs, bots;
