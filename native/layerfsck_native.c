/*
 * The few Linux calls Node 20 lacks and that layerfsck needs on a hot path or
 * without following symlinks: mknod (overlay whiteouts are char 0/0 devices,
 * a store can hold 10^5 of them, so one process spawn each is far too slow),
 * fchmodat(AT_SYMLINK_NOFOLLOW) (fs.chmod follows a symlink out of a store),
 * utimensat(AT_SYMLINK_NOFOLLOW) (fs.lutimes takes seconds as a double and loses nanoseconds),
 * umount2 (plain and MNT_DETACH), and a raw readdir to see whether a filesystem
 * fills in d_type (Node hides DT_UNKNOWN by lstat-ing for it; overlay needs d_type).
 *
 * Every function is synchronous and throws an Error whose `code` is the errno
 * name, so the adapter can treat it exactly like a node:fs error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define PATH_BUF 4097

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case ENOTSUP: return "ENOTSUP";
    case EDQUOT: return "EDQUOT";
    case ENOMEM: return "ENOMEM";
    case EFAULT: return "EFAULT";
    default: return "EUNKNOWN";
  }
}

static napi_value throw_errno(napi_env env, int e, const char *syscall, const char *path) {
  char msg[PATH_BUF + 128];
  snprintf(msg, sizeof msg, "%s: %s, %s '%s'", errno_name(e), strerror(e), syscall, path);
  napi_value code, message, err, sys, p, no;
  napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &err);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &p);
  napi_create_int32(env, -e, &no);
  napi_set_named_property(env, err, "code", code);
  napi_set_named_property(env, err, "syscall", sys);
  napi_set_named_property(env, err, "path", p);
  napi_set_named_property(env, err, "errno", no);
  napi_throw(env, err);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "wrong number of arguments");
    return 0;
  }
  return 1;
}

static int get_path(napi_env env, napi_value v, char *buf) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, PATH_BUF, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "path must be a string");
    return 0;
  }
  if (len >= PATH_BUF - 1) {
    napi_throw_range_error(env, "ENAMETOOLONG", "path too long");
    return 0;
  }
  return 1;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a non-negative integer");
    return 0;
  }
  return 1;
}

/* mknod(path, mode, major, minor): mode carries the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char path[PATH_BUF];
  uint32_t mode, major, minor;
  if (!get_args(env, info, 4, argv) || !get_path(env, argv[0], path) || !get_u32(env, argv[1], &mode) ||
      !get_u32(env, argv[2], &major) || !get_u32(env, argv[3], &minor))
    return NULL;
  if (mknod(path, (mode_t)mode, makedev(major, minor)) != 0) return throw_errno(env, errno, "mknod", path);
  return NULL;
}

/* lchmod(path, mode): never follows a symlink; Linux answers EOPNOTSUPP for a symlink itself. */
static napi_value js_lchmod(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_BUF];
  uint32_t mode;
  if (!get_args(env, info, 2, argv) || !get_path(env, argv[0], path) || !get_u32(env, argv[1], &mode)) return NULL;
  if (fchmodat(AT_FDCWD, path, (mode_t)mode, AT_SYMLINK_NOFOLLOW) != 0) {
    int e = errno;
    return throw_errno(env, e == ENOTSUP ? ENOTSUP : e, "lchmod", path);
  }
  return NULL;
}

/* umount(path, detach): UMOUNT_NOFOLLOW so a symlinked mount point is never resolved. */
static napi_value js_umount(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_BUF];
  bool detach = false;
  if (!get_args(env, info, 2, argv) || !get_path(env, argv[0], path)) return NULL;
  napi_get_value_bool(env, argv[1], &detach);
  int flags = UMOUNT_NOFOLLOW | (detach ? MNT_DETACH : 0);
  if (umount2(path, flags) != 0) return throw_errno(env, errno, "umount", path);
  return NULL;
}

/* lutimes(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec): nanosecond times on the entry itself. */
static napi_value js_lutimes(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  char path[PATH_BUF];
  int64_t asec, msec;
  uint32_t ansec, mnsec;
  if (!get_args(env, info, 5, argv) || !get_path(env, argv[0], path)) return NULL;
  if (napi_get_value_int64(env, argv[1], &asec) != napi_ok || !get_u32(env, argv[2], &ansec) ||
      napi_get_value_int64(env, argv[3], &msec) != napi_ok || !get_u32(env, argv[4], &mnsec)) {
    napi_throw_type_error(env, NULL, "times must be integers");
    return NULL;
  }
  struct timespec ts[2] = {{(time_t)asec, (long)ansec}, {(time_t)msec, (long)mnsec}};
  if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0) return throw_errno(env, errno, "lutimes", path);
  return NULL;
}

/* dtype(dir): false when readdir reports DT_UNKNOWN for an entry of dir, as on xfs with ftype=0. */
static napi_value js_dtype(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[PATH_BUF];
  if (!get_args(env, info, 1, argv) || !get_path(env, argv[0], path)) return NULL;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "opendir", path);
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "opendir", path);
  }
  bool known = true;
  struct dirent *d;
  while ((d = readdir(dir)) != NULL) {
    if (d->d_type == DT_UNKNOWN) {
      known = false;
      break;
    }
  }
  closedir(dir);
  napi_value result;
  napi_get_boolean(env, known, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
      {"lchmod", NULL, js_lchmod, NULL, NULL, NULL, napi_default, NULL},
      {"umount", NULL, js_umount, NULL, NULL, NULL, napi_default, NULL},
      {"lutimes", NULL, js_lutimes, NULL, NULL, NULL, napi_default, NULL},
      {"dtype", NULL, js_dtype, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
