"""The audit log: who viewed or changed what, when and why; append-only and hash-chained."""
