"""The web dashboard: server-rendered pages at / and /dashboard/*, live over Server-Sent Events."""
