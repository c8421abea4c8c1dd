"""The admin site of Marrow-Find: `apps` installs it (importable before the app registry is ready),
`site` holds the site and the institution-scoped ModelAdmin base."""
