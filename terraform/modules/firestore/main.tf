# The Firestore (native mode) database holding one document per track, and the indexes the
# partner API's queries need. Single-field indexes are automatic; composite ones are not,
# and a query without its index fails in production (the emulator does not check).

resource "google_firestore_database" "this" {
  project                           = var.project_id
  name                              = var.database_id
  location_id                       = var.location_id
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # Support staff look tracks up here: destroying the stack must not take the records along.
  deletion_policy = "ABANDON"
}

# One composite index per query shape of the TrackStore (adapters/firestore_store.py). The
# trailing __name__ ordering Firestore adds itself also serves the start_after() cursor. Every
# list ordered by updated_at reads `shard in [0..7]` (trackscan.domain.track_ids.INDEX_SHARDS):
# shard comes before updated_at, so a busy partner's or state's newest entries land at the ends
# of 8 ranges, each under the 500 writes/s Firestore allows ordered values (docs/capacity.md).
locals {
  composite_indexes = {
    # API: a partner's tracks in one state, most recently changed first.
    partner_state_updated = [["partner", "ASCENDING"], ["state", "ASCENDING"], ["shard", "ASCENDING"], ["updated_at", "DESCENDING"]]
    # API: a partner's tracks, most recently changed first.
    partner_updated = [["partner", "ASCENDING"], ["shard", "ASCENDING"], ["updated_at", "DESCENDING"]]
    # Support: every track, most recently changed first.
    shard_updated = [["shard", "ASCENDING"], ["updated_at", "DESCENDING"]]
    # Support: all tracks in one state (e.g. FAILED), most recently changed first.
    state_updated = [["state", "ASCENDING"], ["shard", "ASCENDING"], ["updated_at", "DESCENDING"]]
    # Reconcile: tracks in one state not updated since a cutoff, oldest first. Not left to the
    # index above: Firestore's index docs give each sort direction of a field its own index.
    state_stalled = [["state", "ASCENDING"], ["shard", "ASCENDING"], ["updated_at", "ASCENDING"]]
    # find_by_source: the latest track of an object (trackscan status <gs:// uri>).
    source_updated = [["source_uri", "ASCENDING"], ["updated_at", "DESCENDING"]]
    # Content dedupe (ingest): a DONE track whose source had the same bytes.
    content_done = [["content_hash", "ASCENDING"], ["state", "ASCENDING"]]
  }
}

# The deliver step's webhook send attempts (adapters/firestore_webhooks.py), a document per batch:
# a partner's latest, and its undelivered ones, newest first (GET /v1/webhook).
locals {
  webhook_attempts = "${var.tracks_collection}-webhook-attempts"
  webhook_attempt_indexes = {
    partner_at             = [["partner", "ASCENDING"], ["at", "DESCENDING"]]
    partner_undelivered_at = [["partner", "ASCENDING"], ["undelivered", "ASCENDING"], ["at", "DESCENDING"]]
  }
}

# Every composite index of the two collections above.
resource "google_firestore_index" "composite" {
  for_each = merge(
    { for name, fields in local.composite_indexes : name => { collection = var.tracks_collection, fields = fields } },
    { for name, fields in local.webhook_attempt_indexes : name => { collection = local.webhook_attempts, fields = fields } },
  )

  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}

# The track indexes' old address: the same indexes, not rebuilt.
moved {
  from = google_firestore_index.tracks
  to   = google_firestore_index.composite
}

# Similarity search (FirestoreTrackStore.nearest): find_nearest over one partner's tracks,
# cosine distance on the search vector each DONE track carries (trackscan.domain.similarity). A flat
# index is exact KNN over the partner's vectors, the only kind Firestore offers.
resource "google_firestore_index" "search_vector" {
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = var.tracks_collection
  query_scope = "COLLECTION"

  fields {
    field_path = "partner"
    order      = "ASCENDING"
  }
  fields {
    field_path = "search_vector"
    vector_config {
      dimension = var.search_vector_dimensions
      flat {}
    }
  }
}

# No single-field indexes on:
# - result (tags, a 200-float embedding) and timeline: never queried; indexing them multiplies
#   index entries per write and can hit the per-document index limit;
# - created_at, updated_at: a single-field index on a steadily increasing timestamp caps the
#   whole collection at about 500 writes/s. The composite indexes above lead with an equality
#   field and still serve every ordered query.
resource "google_firestore_field" "unindexed" {
  for_each = toset(var.unindexed_fields)

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = var.tracks_collection
  field      = each.value

  index_config {}
}

# Firestore deletes a batch once its expire_at passes (ATTEMPTS_KEPT, 30 days, in
# trackscan.domain.webhooks), so the attempts clean themselves up. Neither expire_at (a steadily
# increasing timestamp) nor the attempts themselves are queried: no single-field index on them.
resource "google_firestore_field" "webhook_attempts_expire_at" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.webhook_attempts
  field      = "expire_at"

  ttl_config {}
  index_config {}
}

resource "google_firestore_field" "webhook_attempts_unindexed" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = local.webhook_attempts
  field      = "attempts"

  index_config {}
}
