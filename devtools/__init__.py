"""Development tooling (Discogs stand-in, fixture generators, demo). Not part of the plugins."""
