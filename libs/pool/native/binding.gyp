{
  "targets": [
    {
      "target_name": "fenced_io",
      "sources": ["fenced_io.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
