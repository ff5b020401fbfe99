"""HTTP edge: Starlette apps, auth, msgspec wire types, problem+json errors."""
