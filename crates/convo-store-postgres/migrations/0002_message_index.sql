-- Finds the events about one message of a conversation without reading the conversation's
-- whole history: the conversation aggregate remembers only its recent messages and asks the
-- store about older ones (status reports, reactions, reused message ids).
CREATE INDEX events_conversation_message
    ON events (aggregate_id, (payload ->> 'message_id'), sequence)
    WHERE aggregate_type = 'conversation' AND payload ? 'message_id';
