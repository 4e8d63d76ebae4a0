-- The script-state turn botauto reported for the conversation's last turn
-- (TurnEnd.turn), passed back as ConverseRequest.known_turn so the botauto
-- replica that saved it can skip reading it again.
ALTER TABLE conversations ADD COLUMN auto_turn bigint NOT NULL DEFAULT 0;
