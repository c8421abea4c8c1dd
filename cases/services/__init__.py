"""Multi-object workflows. Views, the API, the admin and tasks call these; they check permissions
and write the audit in the same transaction as the change."""
