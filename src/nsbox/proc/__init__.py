"""L1: process plumbing: the parent<->child channel, forking by the rules, /proc parsers."""
