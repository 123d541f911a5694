"""L5: argv adapters. Each turns arguments into library calls and exceptions into one line + exit code."""
