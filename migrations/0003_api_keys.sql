-- API keys for the TCP listener. The key itself is shown once when created;
-- only its SHA-256 is kept (a key is 256 random bits, so a plain hash is
-- enough: there is nothing to guess). When an unrevoked key exists, every TCP
-- request must present one; the unix socket (owner-only) needs none.
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,           -- short public id (hex), shown by `kiln keys list`, used to revoke
  name        TEXT NOT NULL,              -- the user's label ('' when none)
  scope       TEXT NOT NULL CHECK (scope IN ('inference', 'admin')),
  hash        TEXT NOT NULL UNIQUE,       -- sha256 hex of the whole key
  created_at  INTEGER NOT NULL,           -- ms since epoch
  last_used_at INTEGER,                   -- ms since epoch, NULL until first used
  revoked_at  INTEGER                     -- ms since epoch, NULL while valid
);
