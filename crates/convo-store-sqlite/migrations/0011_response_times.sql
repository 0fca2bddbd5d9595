-- The response-time read model (projections/convo-projection-response-times): per conversation
-- its summary (seq 0) and one row per response (the response message's seq). The responder,
-- time and seconds columns are there for reports across conversations (per inbox, per period).
CREATE TABLE rm_response_times (
    conversation_id TEXT    NOT NULL,
    seq             INTEGER NOT NULL,  -- 0 for the summary, else the response message's seq
    workspace_id    TEXT    NOT NULL,
    inbox_id        TEXT    NOT NULL,
    responder       TEXT    NOT NULL,  -- agent | bot; '' for the summary
    responded_at_us INTEGER NOT NULL,  -- when the response was accepted, in microseconds; 0 for the summary
    seconds         INTEGER NOT NULL,  -- its response time; 0 for the summary
    row             TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
