"""recdo flows package."""
