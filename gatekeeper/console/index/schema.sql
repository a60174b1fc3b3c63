-- The decision index (SQLite, WAL). Everything here comes from the topics: delete the file
-- and the console rebuilds it. Times are epoch milliseconds.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

-- next offset to read, per topic partition; written in the same transaction as the rows
CREATE TABLE IF NOT EXISTS offsets (
  topic TEXT NOT NULL, partition INTEGER NOT NULL, next INTEGER NOT NULL,
  PRIMARY KEY (topic, partition)) WITHOUT ROWID;

-- one row per decision (contact.decisions; contact.review for blocks only written there).
-- pos, its offset on contact.decisions (null while only the review copy is indexed), orders
-- a debtor's decisions of one millisecond (a worker's batch shares one clock reading; a
-- debtor's decisions share a partition)
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY,            -- ingest order: "new since" polls by it
  ts INTEGER NOT NULL,               -- evaluated_at
  rid INTEGER NOT NULL,              -- 63-bit hash of request_id (rows.request_hash)
  request_id TEXT NOT NULL,
  debtor_id TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  blocked INTEGER NOT NULL,          -- 1 blocked, 0 allowed
  via TEXT NOT NULL,
  actor TEXT,
  channel TEXT NOT NULL,
  region TEXT,
  packs TEXT,                        -- " pack1 pack2 " of the blocking rules
  source INTEGER NOT NULL,           -- 1 contact.decisions, 2 contact.review
  body BLOB NOT NULL,                -- the message value, as it was on the topic
  pos INTEGER);                      -- its contact.decisions offset (see above)
CREATE INDEX IF NOT EXISTS decisions_rid ON decisions (rid);
CREATE INDEX IF NOT EXISTS decisions_debtor ON decisions (debtor_id, ts);
-- every decision by time: the queue (newest blocks first: about half the rows are blocks,
-- so a page reads about twice its rows), Insights (a range's decisions), the retention's
-- prune. One index for all three: each index costs every insert
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts);
-- channel and region filters read queue_ts newest first and skip what does not match: a
-- page of 50 needs a few hundred rows even for a value in 1 % of the blocks; an index per
-- filter would cost every insert more than it saves a query

-- the rules ("r:<pack>/<id>") and packs ("p:<pack>") of each block, for the queue's filters
CREATE TABLE IF NOT EXISTS tags (
  tag TEXT NOT NULL, ts INTEGER NOT NULL, decision INTEGER NOT NULL,
  PRIMARY KEY (tag, ts, decision)) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, debtor_id TEXT NOT NULL, type TEXT NOT NULL,
  body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS events_debtor ON events (debtor_id, ts);

CREATE TABLE IF NOT EXISTS outcomes (
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, debtor_id TEXT NOT NULL,
  request_id TEXT NOT NULL, outcome TEXT NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS outcomes_debtor ON outcomes (debtor_id, ts);

-- releases and acknowledgements (from the audit topic)
CREATE TABLE IF NOT EXISTS actions (
  seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, rid INTEGER NOT NULL,
  request_id TEXT NOT NULL, debtor_id TEXT NOT NULL, action TEXT NOT NULL,
  actor TEXT NOT NULL, reason TEXT NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS actions_rid ON actions (rid);
CREATE INDEX IF NOT EXISTS actions_debtor ON actions (debtor_id, ts);

-- the latest profile of each debtor (region for requests that do not carry one; time zone)
CREATE TABLE IF NOT EXISTS debtors (
  debtor_id TEXT PRIMARY KEY, region TEXT, timezone TEXT, ts INTEGER NOT NULL) WITHOUT ROWID;

-- counts per hour, kept as decisions arrive: the overview never scans decisions
CREATE TABLE IF NOT EXISTS hourly_totals (
  hour INTEGER PRIMARY KEY, total INTEGER NOT NULL, blocked INTEGER NOT NULL);
-- blocks per hour by "c:<channel>" and "g:<region>" ("g:" when unknown)
CREATE TABLE IF NOT EXISTS hourly_dims (
  hour INTEGER NOT NULL, dim TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (hour, dim)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly_rules (
  hour INTEGER NOT NULL, rule TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (hour, rule)) WITHOUT ROWID;
-- every value the queue's filters can take: "r:<rule>", "p:<pack>", "c:<channel>", "g:<region>"
CREATE TABLE IF NOT EXISTS dims (dim TEXT PRIMARY KEY) WITHOUT ROWID;
