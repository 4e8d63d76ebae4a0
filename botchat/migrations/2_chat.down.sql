DROP TABLE messages, conversations;
