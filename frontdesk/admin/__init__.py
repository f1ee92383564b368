"""Admin pages of the staff console (`/console/admin/...`, role admin, one practice each)."""
