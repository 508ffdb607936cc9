"""Analysis of stored runs, free of Keras: statistics over seeds (stats), per-run
diagnostics from stored numbers (diagnostics), and statements of why runs differ (explain)."""
