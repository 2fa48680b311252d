-- Registry transfers. A blob being pulled lives in a pre-sized partial file
-- ($KILN_MODELS/partial/sha256-<hex>) split into fixed parts; a row per part
-- records how far it got, so a pull killed at any moment resumes.
CREATE TABLE partial_blobs (
  digest     TEXT PRIMARY KEY,            -- sha256:<64 hex>, validated before insert
  size       INTEGER NOT NULL,            -- declared by the manifest
  part_size  INTEGER NOT NULL,            -- part i covers [i*part_size, min(size, (i+1)*part_size))
  boot_id    TEXT NOT NULL,               -- the boot during which `written` was recorded
  updated_at INTEGER NOT NULL
);

CREATE TABLE partial_parts (
  digest  TEXT NOT NULL REFERENCES partial_blobs(digest) ON DELETE CASCADE,
  idx     INTEGER NOT NULL,
  written INTEGER NOT NULL,               -- bytes of the part written to the file: survives a killed process
  synced  INTEGER NOT NULL,               -- bytes of the part known fsynced: survives a reboot
  PRIMARY KEY (digest, idx)
);

-- Blobs committed before their data was fsynced (the sync runs after the pull
-- reports success). A row left from an earlier boot means the file may be torn:
-- it is hashed again at start.
CREATE TABLE unsynced_blobs (
  digest  TEXT PRIMARY KEY,
  boot_id TEXT NOT NULL
);

-- Where a blob is known to exist remotely, so a push can mount it from another
-- repository of the same registry instead of uploading it again.
CREATE TABLE remote_blobs (
  host    TEXT NOT NULL,                  -- registry host[:port], lower case
  repo    TEXT NOT NULL,                  -- namespace/model
  digest  TEXT NOT NULL,
  seen_at INTEGER NOT NULL,
  PRIMARY KEY (host, digest, repo)
);
