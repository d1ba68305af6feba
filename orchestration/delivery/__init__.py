"""Leadership and analyst delivery: KPI snapshots, report, exports, publishing, privacy, retention."""
