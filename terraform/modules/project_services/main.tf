# Enables the Google APIs the pipeline uses. Services stay enabled on destroy: disabling an
# API deletes its resources project-wide, which is never what a module teardown should do.
resource "google_project_service" "this" {
  for_each = toset(var.services)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
