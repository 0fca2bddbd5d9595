-- The response-time read model (projections/convo-projection-response-times): per conversation
-- its summary (seq 0) and one row per response (the response message's seq). The responder,
-- time and seconds columns are there for reports across conversations (per inbox, per period).
CREATE TABLE rm_response_times (
    conversation_id text   NOT NULL,
    seq             bigint NOT NULL,  -- 0 for the summary, else the response message's seq
    workspace_id    text   NOT NULL,
    inbox_id        text   NOT NULL,
    responder       text   NOT NULL,  -- agent | bot; '' for the summary
    responded_at_us bigint NOT NULL,  -- when the response was accepted, in microseconds; 0 for the summary
    seconds         bigint NOT NULL,  -- its response time; 0 for the summary
    row             jsonb  NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
