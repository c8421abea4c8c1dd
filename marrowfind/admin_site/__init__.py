"""The admin site of Marrow-Find: `apps` installs it (importable before the app registry is ready),
`site` holds the site and the institution-scoped ModelAdmin base, `null_characters` the refusal of a
null character in a list's search or filter that every ModelAdmin of the site has."""
