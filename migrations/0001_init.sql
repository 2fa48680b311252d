-- Models are kept as Ollama keeps them: a manifest (its exact bytes, whose sha256
-- is the model's ID) naming a config blob and layer blobs. The blob files live
-- under $KILN_MODELS/blobs; a row here exists only once its file is complete.
CREATE TABLE blobs (
  digest     TEXT PRIMARY KEY,            -- sha256:<64 hex>, validated before insert
  size       INTEGER NOT NULL,
  created_at INTEGER NOT NULL             -- ms since epoch
);

CREATE TABLE models (
  name            TEXT PRIMARY KEY,       -- canonical lower-case key host/namespace/model:tag
  display         TEXT NOT NULL,          -- the name as the user wrote it (case kept)
  manifest        BLOB NOT NULL,          -- the manifest bytes, exactly as stored and served
  manifest_digest TEXT NOT NULL,          -- sha256:<hex> of manifest
  modified_at     INTEGER NOT NULL
);

-- Every blob a manifest references, config included (position 0), in manifest order.
CREATE TABLE model_blobs (
  model      TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
  position   INTEGER NOT NULL,
  digest     TEXT NOT NULL REFERENCES blobs(digest),
  media_type TEXT NOT NULL,
  size       INTEGER NOT NULL,
  PRIMARY KEY (model, position)
);
CREATE INDEX model_blobs_digest ON model_blobs(digest);

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
