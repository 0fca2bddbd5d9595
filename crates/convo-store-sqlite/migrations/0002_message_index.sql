-- Finds the events about one message of a conversation without reading its whole history.
CREATE INDEX events_conversation_message
    ON events (aggregate_id, json_extract(payload, '$.message_id'), sequence)
    WHERE aggregate_type = 'conversation';
