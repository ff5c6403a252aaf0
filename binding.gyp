{
  "targets": [
    {
      "target_name": "layerfsck_native",
      "sources": ["native/layerfsck_native.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
