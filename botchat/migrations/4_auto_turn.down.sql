ALTER TABLE conversations DROP COLUMN auto_turn;
