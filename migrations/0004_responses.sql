-- Responses kept for OpenAI's Responses API (POST /v1/responses with store,
-- GET/DELETE /v1/responses/{id}, previous_response_id). Each row holds the
-- response object as answered, and the conversation it answered as input
-- items, so a later request can continue from it. Rows past expires_at are
-- gone for every purpose and are deleted on the next write.
CREATE TABLE responses (
  id         TEXT PRIMARY KEY,            -- resp_<random>
  created_at INTEGER NOT NULL,            -- ms since the epoch
  expires_at INTEGER NOT NULL,            -- ms since the epoch
  response   TEXT NOT NULL,               -- the response object (JSON)
  input      TEXT NOT NULL                -- the whole conversation before the output, as input items (JSON)
);
CREATE INDEX responses_expiry ON responses (expires_at);
