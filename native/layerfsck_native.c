/*
 * The few Linux calls Node 20 lacks and that layerfsck needs on a hot path or
 * without following symlinks: mknod (overlay whiteouts are char 0/0 devices,
 * a store can hold 10^5 of them, so one process spawn each is far too slow),
 * fchmodat(AT_SYMLINK_NOFOLLOW) (fs.chmod follows a symlink out of a store),
 * utimensat(AT_SYMLINK_NOFOLLOW) (fs.lutimes takes seconds as a double and loses nanoseconds),
 * umount2 (plain and MNT_DETACH), getdents64 on a descriptor that never follows a
 * symlink (the walk's one call per directory; a whole tree's on the threadpool), a raw readdir to see whether a filesystem
 * fills in d_type (Node hides DT_UNKNOWN by lstat-ing for it; overlay needs d_type), what export asks of
 * every entry of a directory (stat, xattr names, a small file's bytes, a link's target) in one job on the threadpool,
 * linkat of many names from one directory descriptor to another in one job on the threadpool (a clone's
 * hard links, without a whole-path lookup per file),
 * the l*xattr calls (on the entry itself, with byte-exact names and values),
 * syncfs, and flock on a file opened without following a symlink or blocking.
 *
 * A path is a Buffer (the exact bytes of a name that is not valid UTF-8) or a
 * string. Every function is synchronous (but listTreeAsync, inspectAsync and linkNamesAsync, which return a
 * promise) and throws (rejects with) an Error whose `code` is the errno name,
 * so the adapter can treat it exactly like a node:fs error.
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
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <sched.h>
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
    case ENODATA: return "ENODATA";
    case ERANGE: return "ERANGE";
    case E2BIG: return "E2BIG";
    case ENXIO: return "ENXIO";
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOSYS: return "ENOSYS";
    case ENOLCK: return "ENOLCK";
    case EOVERFLOW: return "EOVERFLOW";
    case ETXTBSY: return "ETXTBSY";
    case EMLINK: return "EMLINK";
    case ESTALE: return "ESTALE";
    default: return "EUNKNOWN";
  }
}

/* The error node:fs would give: `code` is the errno name, with `syscall`, `path` and a negative `errno`. */
static napi_value errno_error(napi_env env, int e, const char *syscall, const char *path) {
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
  return err;
}

static napi_value throw_errno(napi_env env, int e, const char *syscall, const char *path) {
  napi_throw(env, errno_error(env, e, syscall, path));
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

/* A path or a name: a Buffer's bytes as they are, or a string as UTF-8. A NUL inside would cut it short. */
static int get_bytes(napi_env env, napi_value v, char *buf, size_t cap, const char *what) {
  bool is_buffer = false;
  size_t len = 0;
  napi_is_buffer(env, v, &is_buffer);
  if (is_buffer) {
    void *data = NULL;
    if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) {
      napi_throw_type_error(env, NULL, "unreadable buffer");
      return 0;
    }
    if (len >= cap - 1) {
      napi_throw_range_error(env, "ENAMETOOLONG", "path too long");
      return 0;
    }
    if (len > 0) memcpy(buf, data, len);
    buf[len] = '\0';
  } else {
    // The whole length first: a copy into a short buffer stops at a whole character, and a path cut
    // inside one would come back a shorter path that exists (a parent), not an error.
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
      char msg[64];
      snprintf(msg, sizeof msg, "%s must be a string or a Buffer", what);
      napi_throw_type_error(env, NULL, msg);
      return 0;
    }
    if (len >= cap - 1) {
      napi_throw_range_error(env, "ENAMETOOLONG", "path too long");
      return 0;
    }
    size_t copied = 0;
    if (napi_get_value_string_utf8(env, v, buf, cap, &copied) != napi_ok || copied != len) {
      napi_throw_range_error(env, "ENAMETOOLONG", "path too long");
      return 0;
    }
  }
  if (strlen(buf) != len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "a path or name must not contain a NUL byte");
    return 0;
  }
  return 1;
}

static int get_path(napi_env env, napi_value v, char *buf) { return get_bytes(env, v, buf, PATH_BUF, "path"); }

#define XATTR_NAME_BUF 256

static int get_xattr_name(napi_env env, napi_value v, char *buf) { return get_bytes(env, v, buf, XATTR_NAME_BUF, "name"); }

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

/*
 * readdir(dir): every entry but "." and ".." as one
 * Buffer of `<'@' + d_type><name bytes>\0` records, read with getdents64 on
 * a descriptor opened O_NOFOLLOW|O_DIRECTORY. A symlink is ELOOP, never
 * followed; d_type is trusted (DT_UNKNOWN is '@' and the caller stats that one
 * entry). A char or block device's record is followed by `<major>:<minor>\0`,
 * read with fstatat on the same descriptor (empty when that entry changed or
 * vanished meanwhile): a whiteout check needs a device's number, and asking
 * here saves a path lookup and a round trip per device. One call and one
 * Buffer per directory instead of an lstat and a Dirent object per entry.
 */

/*
 * Whether the filesystem of the directory open at fd lists each regular
 * file with the inode number lstat reports for it (d_ino == st_ino): ext4,
 * xfs, btrfs and tmpfs do. Not overlayfs, whose listing may name a lower
 * layer's inode, and not one this helper does not know. (A mount point's
 * entry names the inode under the mount on any of them.)
 */
static int lists_inodes(int fd) {
  struct statfs s;
  if (fstatfs(fd, &s) != 0) return 0;
  switch ((unsigned long)s.f_type) {
    case 0xEF53UL:     /* ext2/3/4 */
    case 0x58465342UL: /* xfs */
    case 0x9123683EUL: /* btrfs */
    case 0x01021994UL: /* tmpfs */
      return 1;
    default:
      return 0;
  }
}

/* The largest inode number JavaScript holds exactly as a number (2^53 - 1); a larger one is left out. */
#define SAFE_INO 9007199254740991ULL
struct linux_dirent64_rec {
  unsigned long long d_ino;
  long long d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

typedef struct {
  char *data;
  size_t len, cap;
} grow_buf;

static int grow_put(grow_buf *b, const char *bytes, size_t n) {
  if (b->len + n > b->cap) {
    size_t want = (b->len + n) * 2;
    char *grown = realloc(b->data, want);
    if (grown == NULL) return 0;
    b->data = grown;
    b->cap = want;
  }
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
  return 1;
}

/* A directory the port names, opened never through a symlink in its last component: 0 with *fd, or an errno. */
static int open_dir(const char *path, int *fd) {
  do *fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  while (*fd < 0 && errno == EINTR);
  if (*fd >= 0) return 0;
  int e = errno;
  struct stat st;
  // O_DIRECTORY answers ENOTDIR for a symlink before O_NOFOLLOW can say ELOOP; the port says ELOOP.
  if (e == ENOTDIR && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) e = ELOOP;
  return e;
}

/*
 * 0 with the records in *out (the caller frees out->data), or an errno. With
 * inodes, each record ends with `<d_ino>\0`, empty where the filesystem's
 * listing is not known to give lstat's number (lists_inodes) or JavaScript
 * could not hold it exactly.
 */
static int list_dir(const char *path, grow_buf *out, int inodes) {
  out->cap = 16384;
  out->len = 0;
  out->data = malloc(out->cap);
  if (out->data == NULL) return ENOMEM;
  int fd;
  int opened = open_dir(path, &fd);
  if (opened != 0) return opened;
  int numbered = inodes && lists_inodes(fd);
  char buf[32768];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) {
      int e = errno;
      close(fd);
      return e;
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      struct linux_dirent64_rec *d = (struct linux_dirent64_rec *)(buf + off);
      off += d->d_reclen;
      const char *name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      char type = (char)('@' + d->d_type);
      int ok = grow_put(out, &type, 1) && grow_put(out, name, strlen(name) + 1);
      if (ok && (d->d_type == DT_CHR || d->d_type == DT_BLK)) {
        struct stat st;
        char dev[48] = "";
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
          snprintf(dev, sizeof dev, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
        ok = grow_put(out, dev, strlen(dev) + 1);
      }
      if (ok && inodes) {
        char ino[24] = "";
        if (numbered && d->d_ino <= SAFE_INO) snprintf(ino, sizeof ino, "%llu", d->d_ino);
        ok = grow_put(out, ino, strlen(ino) + 1);
      }
      if (!ok) {
        close(fd);
        return ENOMEM;
      }
    }
  }
  close(fd);
  return 0;
}

static napi_value js_readdir(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[PATH_BUF];
  if (!get_args(env, info, 1, argv) || !get_path(env, argv[0], path)) return NULL;
  grow_buf out;
  int e = list_dir(path, &out, 0);
  if (e != 0) {
    free(out.data);
    return throw_errno(env, e, "scandir", path);
  }
  napi_value result;
  void *data;
  napi_status made = napi_create_buffer_copy(env, out.len, out.data, &data, &result);
  free(out.data);
  if (made != napi_ok) return throw_errno(env, ENOMEM, "scandir", path);
  return result;
}

/*
 * listTreeAsync(root, from, maxEntries, skipPlain, inodes): the directories of a tree with their
 * listings, read on the threadpool in one job, for a walk that changes
 * nothing and wants the reading done on another core while it looks at what
 * came before. `from` is the walk's stack of directories still to visit
 * (paths relative to root, "" for root itself; the last one is visited
 * first), so a walk goes on where an earlier call stopped. Depth first, each
 * directory's subdirectories pushed in listing order: the order of the
 * port's walk. The answer is one Buffer of sections:
 *   \x01<rel>\0<count of entries>\0 then the directory's records as readdir
 *   gives them; with skipPlain, a directory without a name starting `.wh.`
 *   leaves out its regular files (what a whiteout check never looks at:
 *   nearly every entry of a layer, so the walk's caller makes no object for them);
 *   with inodes, each record ends with its d_ino (list_dir);
 *   \x02<rel>\0<errno name>\0 for a directory that could not be listed;
 *   \x03<rel>\0 for each directory left on the stack once maxEntries
 *   entries were listed, bottom first (the caller's `from` for the next call).
 * Records start at '@', so a section mark is never mistaken for one.
 */
typedef struct {
  char **items;
  size_t len, cap;
} rel_stack;

static int rel_push(rel_stack *st, const char *parent, const char *name) {
  if (st->len == st->cap) {
    size_t want = st->cap == 0 ? 64 : st->cap * 2;
    char **grown = realloc(st->items, want * sizeof *grown);
    if (grown == NULL) return 0;
    st->items = grown;
    st->cap = want;
  }
  size_t pl = strlen(parent), nl = name != NULL ? strlen(name) : 0;
  char *rel = malloc(pl + nl + 2);
  if (rel == NULL) return 0;
  memcpy(rel, parent, pl);
  if (name != NULL) {
    size_t at = pl;
    if (pl > 0) rel[at++] = '/';
    memcpy(rel + at, name, nl);
    rel[at + nl] = 0;
  } else {
    rel[pl] = 0;
  }
  st->items[st->len++] = rel;
  return 1;
}

static void rel_free(rel_stack *st) {
  for (size_t i = 0; i < st->len; i++) free(st->items[i]);
  free(st->items);
}

/* The length of one record at data[off]: <type><name>\0, a device's followed by <major:minor>\0, then <d_ino>\0 with inodes. */
static size_t record_len(const char *data, size_t off, int inodes, unsigned char *type, const char **name) {
  *type = (unsigned char)data[off] - '@';
  *name = data + off + 1;
  size_t len = 1 + strlen(*name) + 1;
  if (*type == DT_CHR || *type == DT_BLK) len += strlen(data + off + len) + 1;
  if (inodes) len += strlen(data + off + len) + 1;
  return len;
}

static int list_tree(const char *root, rel_stack *st, size_t max_entries, int skip_plain, int inodes, grow_buf *out) {
  out->cap = 65536;
  out->len = 0;
  out->data = malloc(out->cap);
  if (out->data == NULL) return ENOMEM;
  size_t listed = 0;
  char path[PATH_BUF];
  while (st->len > 0 && listed < max_entries) {
    char *rel = st->items[--st->len];
    int n = rel[0] == 0 ? snprintf(path, sizeof path, "%s", root) : snprintf(path, sizeof path, "%s/%s", root, rel);
    grow_buf dir = {NULL, 0, 0};
    int e = n < 0 || (size_t)n >= sizeof path ? ENAMETOOLONG : list_dir(path, &dir, inodes);
    const char mark = e == 0 ? '\x01' : '\x02';
    int ok = grow_put(out, &mark, 1) && grow_put(out, rel, strlen(rel) + 1);
    if (ok && e != 0) {
      const char *code = errno_name(e);
      ok = grow_put(out, code, strlen(code) + 1);
    }
    if (ok && e == 0) {
      // Count the entries, push the subdirectories, and see whether any name is an aufs marker.
      size_t count = 0;
      int markers = 0;
      for (size_t off = 0; ok && off < dir.len;) {
        unsigned char type;
        const char *name;
        off += record_len(dir.data, off, inodes, &type, &name);
        count += 1;
        if (strncmp(name, ".wh.", 4) == 0) markers = 1;
        if (type == DT_DIR) ok = rel_push(st, rel, name);
      }
      listed += count;
      char number[24];
      snprintf(number, sizeof number, "%zu", count);
      ok = ok && grow_put(out, number, strlen(number) + 1);
      if (!skip_plain || markers) {
        ok = ok && grow_put(out, dir.data, dir.len);
      } else {
        for (size_t off = 0; ok && off < dir.len;) {
          unsigned char type;
          const char *name;
          size_t len = record_len(dir.data, off, inodes, &type, &name);
          if (type != DT_REG) ok = grow_put(out, dir.data + off, len);
          off += len;
        }
      }
    }
    free(dir.data);
    free(rel);
    if (!ok) return ENOMEM;
  }
  // Bottom of the stack first: read in order, they are the next call's `from`.
  for (size_t i = 0; i < st->len; i++) {
    const char mark = '\x03';
    if (!grow_put(out, &mark, 1) || !grow_put(out, st->items[i], strlen(st->items[i]) + 1)) return ENOMEM;
  }
  return 0;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char root[PATH_BUF];
  rel_stack from;
  size_t max_entries;
  int skip_plain;
  int inodes;
  grow_buf out;
  int err;
} list_tree_job;

/*
 * Marks the threadpool thread running one of these jobs SCHED_BATCH, once,
 * for the rest of its life (node's own work on that thread later runs so
 * too: its fs calls, hashes and inflates, all bulk work as well). The jobs
 * are work the main thread waits for at its own pace (a listing read ahead,
 * a run of links); as SCHED_OTHER, a worker woken for one preempted the main
 * thread on its core, which then waited to run its JavaScript again: 3-4%
 * of a check of 200k entries on two cores, measured. A batch thread gets the
 * same share of the CPU, only no wakeup preemption. Only a thread on the
 * default policy is marked: one the operator put under another (chrt,
 * systemd's CPUSchedulingPolicy) keeps it. Refused, nothing changes.
 */
static __thread int bulk_thread;
static void as_bulk_work(void) {
  if (bulk_thread) return;
  bulk_thread = 1;
  if (sched_getscheduler(0) != SCHED_OTHER) return;
  struct sched_param none = {0};
  (void)sched_setscheduler(0, SCHED_BATCH, &none);
}

/*
 * Queues `job` on the threadpool as an async work named `name`, with the
 * deferred its complete callback settles: the promise, or NULL when napi
 * could make neither (the caller frees the job and throws).
 */
static napi_value start_job(napi_env env, const char *name, napi_async_execute_callback execute, napi_async_complete_callback complete, void *job,
                            napi_deferred *deferred, napi_async_work *work) {
  napi_value promise, resource;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  if (napi_create_promise(env, deferred, &promise) != napi_ok || napi_create_async_work(env, NULL, resource, execute, complete, job, work) != napi_ok) return NULL;
  napi_queue_async_work(env, *work);
  return promise;
}

static void list_tree_execute(napi_env env, void *data) {
  (void)env;
  as_bulk_work();
  list_tree_job *job = data;
  job->err = list_tree(job->root, &job->from, job->max_entries, job->skip_plain, job->inodes, &job->out);
}

static void list_tree_free(list_tree_job *job) {
  free(job->out.data);
  rel_free(&job->from);
  free(job);
}

static void list_tree_complete(napi_env env, napi_status status, void *data) {
  list_tree_job *job = data;
  napi_value result;
  void *copy;
  if (status != napi_ok && job->err == 0) job->err = EINTR;
  if (job->err == 0 && napi_create_buffer_copy(env, job->out.len, job->out.data, &copy, &result) == napi_ok)
    napi_resolve_deferred(env, job->deferred, result);
  else
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err != 0 ? job->err : ENOMEM, "scandir", job->root));
  napi_delete_async_work(env, job->work);
  list_tree_free(job);
}

static napi_value js_list_tree_async(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  list_tree_job *job = calloc(1, sizeof *job);
  if (job == NULL) return throw_errno(env, ENOMEM, "scandir", "");
  uint32_t count = 0, max_entries = 0;
  bool is_array = false, skip_plain = false, inodes = false;
  if (!get_args(env, info, 5, argv) || napi_get_value_bool(env, argv[3], &skip_plain) != napi_ok || napi_get_value_bool(env, argv[4], &inodes) != napi_ok || !get_path(env, argv[0], job->root) || napi_is_array(env, argv[1], &is_array) != napi_ok ||
      !is_array || napi_get_array_length(env, argv[1], &count) != napi_ok || !get_u32(env, argv[2], &max_entries)) {
    if (!is_array) napi_throw_type_error(env, NULL, "from must be an array");
    list_tree_free(job);
    return NULL;
  }
  job->max_entries = max_entries;
  job->skip_plain = skip_plain;
  job->inodes = inodes;
  char rel[PATH_BUF];
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    if (napi_get_element(env, argv[1], i, &item) != napi_ok || !get_path(env, item, rel)) {
      list_tree_free(job);
      return NULL;
    }
    if (!rel_push(&job->from, rel, NULL)) {
      throw_errno(env, ENOMEM, "scandir", job->root);
      list_tree_free(job);
      return NULL;
    }
  }
  napi_value promise = start_job(env, "layerfsck:listTree", list_tree_execute, list_tree_complete, job, &job->deferred, &job->work);
  if (promise == NULL) {
    throw_errno(env, ENOMEM, "scandir", job->root);
    list_tree_free(job);
  }
  return promise;
}

/* One entry of a directory, not a path: '', '.', '..' and a name with a slash are EINVAL for the port. */
static int is_entry_name(const char *name) {
  return name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/*
 * A Buffer of names each ended by a NUL, as a copy a job owns past the call,
 * ended by a NUL even when the caller's last name was not: 0, or ENOMEM.
 * Each NUL in *len bytes ends one name.
 */
static int own_names(const void *names, size_t names_len, char **out, size_t *len) {
  char *copy = malloc(names_len + 1);
  if (copy == NULL) return ENOMEM;
  if (names_len > 0) memcpy(copy, names, names_len);
  copy[names_len] = '\0';
  *out = copy;
  *len = names_len > 0 && copy[names_len - 1] != '\0' ? names_len + 1 : names_len;
  return 0;
}

/*
 * inspectAsync(dir, names, xattrs, readUpTo, readlinks, maxBytes): what a
 * walk asks of every entry of a directory, for a list of its names, in one
 * job on the threadpool: the port's `inspect`. `names` is one Buffer of
 * names each ended by a NUL. `dir` is opened once (O_DIRECTORY|O_NOFOLLOW)
 * and every name is looked up in that descriptor: fstatat without
 * following, then, as asked, llistxattr (on dir/name, which llistxattr does
 * not follow), a read of a regular file of 0 < size <= readUpTo (openat
 * O_NOFOLLOW|O_NONBLOCK, refused unless the open file is a regular file,
 * whose fstat then stands for the entry), and readlinkat. The first step
 * that fails ends that name with its errno; the call fails only when dir
 * cannot be opened. It stops after the name with which the bytes carried
 * (xattr lists, file bytes, link targets) reached maxBytes.
 *
 * The answer is one ArrayBuffer: a float64 count of names answered, then
 * INSPECT_SLOTS 8-byte slots per name (all float64 but ino and the mtime,
 * which are int64: read through a BigInt64Array on the same bytes):
 *   0 st_mode (-1: the lstat failed), 1 uid, 2 gid, 3 size, 4 blocks,
 *   5 nlink, 6 dev major, 7 dev minor, 8 rdev major, 9 rdev minor, 10 ino,
 *   11 mtime in ns, 12 length of the xattr list, 13 length of the file's
 *   bytes, 14 length of the link target (-1 for each one absent), 15 length
 *   of the error text (0: none);
 * then each name's variable part in that order: xattr names each ended by
 * a NUL, file bytes, link target, `<errno name> <syscall>`.
 */
#define INSPECT_SLOTS 16
#define INSPECT_READ_MAX (1024 * 1024)
#define INSPECT_ANSWER_MAX (256 * 1024 * 1024)
/* XATTR_LIST_MAX: the kernel never lists more than this for one inode. */
#define XATTR_LIST_BUF 65536

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char dir[PATH_BUF];
  char *names;
  size_t names_len;
  int xattrs, links;
  size_t read_up_to, max_bytes;
  grow_buf slots, var;
  double done;
  int err;
  const char *err_syscall;
} inspect_job;

/*
 * A stat as the adapter reads it, for lstat and inspect alike: ten numbers
 * (st_mode, uid, gid, size, blocks, nlink, dev major and minor, rdev major
 * and minor) and two int64s (st_ino, the mtime in ns).
 */
static void stat_numbers(const struct stat *st, double *num, int64_t *big) {
  num[0] = st->st_mode;
  num[1] = st->st_uid;
  num[2] = st->st_gid;
  num[3] = (double)st->st_size;
  num[4] = (double)st->st_blocks;
  num[5] = (double)st->st_nlink;
  num[6] = major(st->st_dev);
  num[7] = minor(st->st_dev);
  num[8] = major(st->st_rdev);
  num[9] = minor(st->st_rdev);
  big[0] = (int64_t)st->st_ino;
  big[1] = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* An inspect slot's stat: the numbers in slots 0-9, the int64s' bytes in slots 10 and 11. */
static void put_stat(double *slot, const struct stat *st) {
  int64_t big[2];
  stat_numbers(st, slot, big);
  memcpy(&slot[10], big, sizeof big);
}

/*
 * Reads a regular file named in dfd into scratch (room for limit + 1 bytes);
 * 0 with *got the bytes read, or (size_t)-1 when the open file is empty or
 * larger than limit; or an errno, with the syscall in *sys. *st becomes the
 * open file's fstat: what was read, even when the name changed since.
 */
static int read_small(int dfd, const char *name, struct stat *st, size_t limit, char *scratch, size_t *got, const char **sys) {
  *got = (size_t)-1;
  int fd;
  do fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    *sys = "open";
    return errno;
  }
  int e = 0;
  struct stat now;
  if (fstat(fd, &now) != 0) {
    e = errno;
    *sys = "fstat";
  } else if (!S_ISREG(now.st_mode)) {
    // Swapped for something else since the lstat; a fifo or device opened O_NONBLOCK is never read.
    e = S_ISDIR(now.st_mode) ? EISDIR : ENXIO;
    *sys = "open";
  } else {
    *st = now;
  }
  if (e != 0 || now.st_size <= 0 || (size_t)now.st_size > limit) {
    close(fd);
    return e;
  }
  // size + 1 first: a short read, the end of a file that did not change, takes one read(2).
  size_t want = (size_t)now.st_size + 1, have = 0;
  for (;;) {
    ssize_t n = read(fd, scratch + have, want - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      e = errno;
      *sys = "read";
      close(fd);
      return e;
    }
    have += (size_t)n;
    if (n == 0 || have < want || want == limit + 1) break;
    want = limit + 1;
  }
  if (have > limit) {
    // Grew past the limit while read: the entry comes as it is now, for the caller to stream.
    if (fstat(fd, &now) == 0) *st = now;
  } else {
    *got = have;
  }
  close(fd);
  return 0;
}

/* Keeps n bytes of a name's answer (xattr names, file bytes, a link target) and their length in slot[at]; 0 when out of memory. */
static int carry(inspect_job *job, double *slot, int at, const char *bytes, size_t n, size_t *carried) {
  if (n > 0 && !grow_put(&job->var, bytes, n)) return 0;
  slot[at] = (double)n;
  *carried += n;
  return 1;
}

static void inspect_execute(napi_env env, void *data) {
  (void)env;
  as_bulk_work();
  inspect_job *job = data;
  int dfd;
  job->err = open_dir(job->dir, &dfd);
  if (job->err != 0) {
    job->err_syscall = "open";
    return;
  }
  // Where an xattr list, a file or a link target is read before it is kept: room for the largest asked for.
  size_t scratch_len = PATH_BUF;
  if (job->xattrs && scratch_len < XATTR_LIST_BUF) scratch_len = XATTR_LIST_BUF;
  if (job->read_up_to + 1 > scratch_len) scratch_len = job->read_up_to + 1;
  char *scratch = malloc(scratch_len);
  size_t dir_len = strlen(job->dir);
  char path[PATH_BUF];
  int ok = scratch != NULL;
  if (ok) {
    memcpy(path, job->dir, dir_len);
    path[dir_len] = '/';
  }
  size_t carried = 0;
  for (size_t off = 0; ok && off < job->names_len && carried < job->max_bytes;) {
    const char *name = job->names + off;
    size_t len = strlen(name);
    off += len + 1;
    double slot[INSPECT_SLOTS] = {-1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, 0};
    const char *sys = "lstat";
    int e = 0;
    struct stat st;
    if (!is_entry_name(name)) e = EINVAL;
    else if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) e = errno;
    if (e == 0 && job->xattrs) {
      sys = "llistxattr";
      ssize_t n;
      if (dir_len + 1 + len >= sizeof path) {
        n = -1;
        errno = ENAMETOOLONG;
      } else {
        memcpy(path + dir_len + 1, name, len + 1);
        n = llistxattr(path, scratch, XATTR_LIST_BUF);
      }
      if (n < 0) e = errno;
      else ok = carry(job, slot, 12, scratch, (size_t)n, &carried);
    }
    if (ok && e == 0 && S_ISREG(st.st_mode) && job->read_up_to > 0 && st.st_size > 0 && (size_t)st.st_size <= job->read_up_to) {
      size_t got;
      e = read_small(dfd, name, &st, job->read_up_to, scratch, &got, &sys);
      if (e == 0 && got != (size_t)-1) ok = carry(job, slot, 13, scratch, got, &carried);
    }
    if (ok && e == 0 && S_ISLNK(st.st_mode) && job->links) {
      sys = "readlink";
      ssize_t n = readlinkat(dfd, name, scratch, PATH_BUF);
      // A target fills at most PATH_MAX - 1 bytes; a full buffer would be one cut short.
      if (n < 0) e = errno;
      else if (n >= PATH_BUF) e = ENAMETOOLONG;
      else ok = carry(job, slot, 14, scratch, (size_t)n, &carried);
    }
    if (!ok) break;
    if (e == 0 || strcmp(sys, "lstat") != 0) put_stat(slot, &st);
    if (e != 0) {
      char text[64];
      int n = snprintf(text, sizeof text, "%s %s", errno_name(e), sys);
      if (n < 0 || (size_t)n >= sizeof text || !grow_put(&job->var, text, (size_t)n)) ok = 0;
      else slot[15] = n;
    }
    if (ok && !grow_put(&job->slots, (const char *)slot, sizeof slot)) ok = 0;
    if (ok) job->done += 1;
  }
  free(scratch);
  close(dfd);
  if (!ok) {
    job->err = ENOMEM;
    job->err_syscall = "inspect";
  }
}

static void inspect_free(inspect_job *job) {
  free(job->names);
  free(job->slots.data);
  free(job->var.data);
  free(job);
}

static void inspect_complete(napi_env env, napi_status status, void *data) {
  inspect_job *job = data;
  if (status != napi_ok && job->err == 0) {
    job->err = EINTR;
    job->err_syscall = "inspect";
  }
  napi_value result;
  void *bytes = NULL;
  size_t total = sizeof(double) + job->slots.len + job->var.len;
  if (job->err == 0 && napi_create_arraybuffer(env, total, &bytes, &result) == napi_ok) {
    memcpy(bytes, &job->done, sizeof(double));
    if (job->slots.len > 0) memcpy((char *)bytes + sizeof(double), job->slots.data, job->slots.len);
    if (job->var.len > 0) memcpy((char *)bytes + sizeof(double) + job->slots.len, job->var.data, job->var.len);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err != 0 ? job->err : ENOMEM, job->err_syscall != NULL ? job->err_syscall : "inspect", job->dir));
  }
  napi_delete_async_work(env, job->work);
  inspect_free(job);
}

static napi_value js_inspect_async(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv)) return NULL;
  inspect_job *job = calloc(1, sizeof *job);
  if (job == NULL) return throw_errno(env, ENOMEM, "inspect", "");
  bool is_buffer = false, xattrs = false, links = false;
  uint32_t read_up_to = 0, max_bytes = 0;
  void *names = NULL;
  size_t names_len = 0;
  if (!get_path(env, argv[0], job->dir)) {
    inspect_free(job);
    return NULL;
  }
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, argv[1], &names, &names_len) != napi_ok ||
      napi_get_value_bool(env, argv[2], &xattrs) != napi_ok || napi_get_value_bool(env, argv[4], &links) != napi_ok) {
    napi_throw_type_error(env, NULL, "inspect takes (dir, names Buffer, xattrs, readUpTo, readlinks, maxBytes)");
    inspect_free(job);
    return NULL;
  }
  if (!get_u32(env, argv[3], &read_up_to) || !get_u32(env, argv[5], &max_bytes)) {
    inspect_free(job);
    return NULL;
  }
  if (read_up_to > INSPECT_READ_MAX || max_bytes < 1 || max_bytes > INSPECT_ANSWER_MAX) {
    napi_throw_range_error(env, NULL, "inspect: readUpTo or maxBytes out of range");
    inspect_free(job);
    return NULL;
  }
  if (own_names(names, names_len, &job->names, &job->names_len) != 0) {
    throw_errno(env, ENOMEM, "inspect", job->dir);
    inspect_free(job);
    return NULL;
  }
  job->xattrs = xattrs;
  job->links = links;
  job->read_up_to = read_up_to;
  job->max_bytes = max_bytes;
  napi_value promise = start_job(env, "layerfsck:inspect", inspect_execute, inspect_complete, job, &job->deferred, &job->work);
  if (promise == NULL) {
    inspect_free(job);
    return throw_errno(env, ENOMEM, "inspect", "");
  }
  return promise;
}

/*
 * linkNamesAsync(fromDir, toDir, names): the port's `linkNames`, in one job
 * on the threadpool. `names` is one Buffer of names each ended by a NUL.
 * Both directories are opened once (O_DIRECTORY|O_NOFOLLOW, as inspect opens
 * its dir) and each name is linked with linkat(fromfd, name, tofd, name, 0):
 * no AT_SYMLINK_FOLLOW, so a symlink is linked itself, and no lookup of the
 * directories' paths per name (what made a clone's link(2) per file cost).
 * A name that is not one entry is EINVAL without a syscall. The call fails
 * (`open`, naming that directory) only when a directory cannot be opened,
 * before anything is linked. The answer is an ArrayBuffer of one int32 per
 * name, in order: 0 when linked, else its errno.
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char from[PATH_BUF], to[PATH_BUF];
  char *names;
  size_t names_len, count;
  int32_t *answers;
  int err;
  const char *err_path;
} link_names_job;

static void link_names_execute(napi_env env, void *data) {
  (void)env;
  as_bulk_work();
  link_names_job *job = data;
  int from_fd, to_fd;
  job->err = open_dir(job->from, &from_fd);
  if (job->err != 0) {
    job->err_path = job->from;
    return;
  }
  job->err = open_dir(job->to, &to_fd);
  if (job->err != 0) {
    job->err_path = job->to;
    close(from_fd);
    return;
  }
  size_t i = 0;
  for (size_t off = 0; off < job->names_len && i < job->count; i++) {
    const char *name = job->names + off;
    off += strlen(name) + 1;
    int e = 0;
    if (!is_entry_name(name)) {
      e = EINVAL;
    } else {
      int rc;
      do rc = linkat(from_fd, name, to_fd, name, 0);
      while (rc != 0 && errno == EINTR);
      if (rc != 0) e = errno;
    }
    job->answers[i] = e;
  }
  close(from_fd);
  close(to_fd);
}

static void link_names_free(link_names_job *job) {
  free(job->names);
  free(job->answers);
  free(job);
}

static void link_names_complete(napi_env env, napi_status status, void *data) {
  link_names_job *job = data;
  if (status != napi_ok && job->err == 0) job->err = EINTR;
  napi_value result;
  void *bytes = NULL;
  size_t total = job->count * sizeof(int32_t);
  if (job->err == 0 && napi_create_arraybuffer(env, total, &bytes, &result) == napi_ok) {
    if (total > 0) memcpy(bytes, job->answers, total);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    const char *syscall = job->err_path != NULL ? "open" : "linkat";
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err != 0 ? job->err : ENOMEM, syscall, job->err_path != NULL ? job->err_path : job->from));
  }
  napi_delete_async_work(env, job->work);
  link_names_free(job);
}

static napi_value js_link_names_async(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  link_names_job *job = calloc(1, sizeof *job);
  if (job == NULL) return throw_errno(env, ENOMEM, "linkat", "");
  if (!get_path(env, argv[0], job->from) || !get_path(env, argv[1], job->to)) {
    link_names_free(job);
    return NULL;
  }
  bool is_buffer = false;
  void *names = NULL;
  size_t names_len = 0;
  if (napi_is_buffer(env, argv[2], &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, argv[2], &names, &names_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "linkNames takes (fromDir, toDir, names Buffer)");
    link_names_free(job);
    return NULL;
  }
  if (own_names(names, names_len, &job->names, &job->names_len) != 0) {
    throw_errno(env, ENOMEM, "linkat", job->from);
    link_names_free(job);
    return NULL;
  }
  for (size_t off = 0; off < job->names_len; off++)
    if (job->names[off] == '\0') job->count += 1;
  job->answers = calloc(job->count > 0 ? job->count : 1, sizeof *job->answers);
  if (job->answers == NULL) {
    throw_errno(env, ENOMEM, "linkat", job->from);
    link_names_free(job);
    return NULL;
  }
  napi_value promise = start_job(env, "layerfsck:linkNames", link_names_execute, link_names_complete, job, &job->deferred, &job->work);
  if (promise == NULL) {
    link_names_free(job);
    return throw_errno(env, ENOMEM, "linkat", "");
  }
  return promise;
}

/*
 * lstat(path, numbers, bigs): the fields the port's Inode has, written into
 * two typed arrays the caller keeps (numbers: Float64Array(10) of mode, uid,
 * gid, size, blocks, nlink, dev major, dev minor, rdev major, rdev minor;
 * bigs: BigInt64Array(2) of ino and mtime in nanoseconds), so a stat costs
 * no object; true when found, false for ENOENT (nothing there), as node's
 * lstat with throwIfNoEntry false answers; any other errno throws.
 */
static napi_value js_lstat(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char path[PATH_BUF];
  if (!get_args(env, info, 3, argv) || !get_path(env, argv[0], path)) return NULL;
  napi_typedarray_type t1, t2;
  size_t n1, n2;
  void *d1, *d2;
  if (napi_get_typedarray_info(env, argv[1], &t1, &n1, &d1, NULL, NULL) != napi_ok || t1 != napi_float64_array || n1 < 10 ||
      napi_get_typedarray_info(env, argv[2], &t2, &n2, &d2, NULL, NULL) != napi_ok || t2 != napi_bigint64_array || n2 < 2) {
    napi_throw_type_error(env, NULL, "lstat needs a Float64Array(10) and a BigInt64Array(2)");
    return NULL;
  }
  struct stat st;
  napi_value result;
  if (lstat(path, &st) != 0) {
    if (errno != ENOENT) return throw_errno(env, errno, "lstat", path);
    napi_get_boolean(env, false, &result);
    return result;
  }
  stat_numbers(&st, d1, d2);
  napi_get_boolean(env, true, &result);
  return result;
}

/*
 * lgetxattr (name given) and llistxattr (name NULL) alike: ask the size, then
 * read; the value may grow in between, so ask again on ERANGE. The bytes come
 * back as a Buffer, or undefined for an attribute the entry does not have.
 */
static napi_value read_xattr_bytes(napi_env env, const char *path, const char *name) {
  const char *syscall = name != NULL ? "lgetxattr" : "llistxattr";
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t got = name != NULL ? lgetxattr(path, name, NULL, 0) : llistxattr(path, NULL, 0);
    char *buf = NULL;
    if (got > 0) {
      size_t size = (size_t)got;
      buf = malloc(size);
      if (buf == NULL) return throw_errno(env, ENOMEM, syscall, path);
      got = name != NULL ? lgetxattr(path, name, buf, size) : llistxattr(path, buf, size);
    }
    if (got < 0) {
      int e = errno;
      free(buf);
      if (e == ERANGE) continue;
      if (e == ENODATA && name != NULL) {
        napi_value undef;
        napi_get_undefined(env, &undef);
        return undef;
      }
      return throw_errno(env, e, syscall, path);
    }
    napi_value result;
    napi_create_buffer_copy(env, (size_t)got, buf != NULL ? buf : "", NULL, &result);
    free(buf);
    return result;
  }
  return throw_errno(env, ERANGE, syscall, path);
}

/* lgetxattr(path, name): the value as a Buffer, or undefined when the entry has no such attribute. */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_BUF], name[XATTR_NAME_BUF];
  if (!get_args(env, info, 2, argv) || !get_path(env, argv[0], path) || !get_xattr_name(env, argv[1], name)) return NULL;
  return read_xattr_bytes(env, path, name);
}

/* llistxattr(path): the raw list, names each ended by a NUL. */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[PATH_BUF];
  if (!get_args(env, info, 1, argv) || !get_path(env, argv[0], path)) return NULL;
  return read_xattr_bytes(env, path, NULL);
}

/* lsetxattr(path, name, value): value is a Buffer or a Uint8Array, written byte for byte. */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char path[PATH_BUF], name[XATTR_NAME_BUF];
  if (!get_args(env, info, 3, argv) || !get_path(env, argv[0], path) || !get_xattr_name(env, argv[1], name)) return NULL;
  bool is_typed = false;
  napi_is_typedarray(env, argv[2], &is_typed);
  if (!is_typed) {
    napi_throw_type_error(env, NULL, "value must be a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL);
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "value must be a Uint8Array");
    return NULL;
  }
  if (lsetxattr(path, name, length > 0 ? data : "", length, 0) != 0) return throw_errno(env, errno, "lsetxattr", path);
  return NULL;
}

/* lremovexattr(path, name): ENODATA when the attribute is absent. */
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[PATH_BUF], name[XATTR_NAME_BUF];
  if (!get_args(env, info, 2, argv) || !get_path(env, argv[0], path) || !get_xattr_name(env, argv[1], name)) return NULL;
  if (lremovexattr(path, name) != 0) return throw_errno(env, errno, "lremovexattr", path);
  return NULL;
}

/*
 * Opens `path` for a call that only needs a descriptor of a file or a
 * directory: never follows a symlink, never blocks on a fifo, and refuses
 * (ENXIO) anything that is not a regular file or a directory, so a device
 * is never touched beyond the open itself.
 */
static int open_plain(const char *path, int flags) {
  int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    close(fd);
    errno = ENXIO;
    return -1;
  }
  return fd;
}

/*
 * syncfsAsync(path): every change on the filesystem holding path is on disk
 * when the promise resolves. On the threadpool: a syncfs waits for the disk,
 * and the main thread has other work meanwhile (a migrate compares the last
 * layer it built while its batch is made durable).
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char path[PATH_BUF];
  int err;
} syncfs_job;

static void syncfs_execute(napi_env env, void *data) {
  (void)env;
  syncfs_job *job = data;
  int fd = open_plain(job->path, O_RDONLY);
  if (fd < 0) {
    job->err = errno;
    return;
  }
  if (syncfs(fd) != 0) job->err = errno;
  close(fd);
}

static void syncfs_complete(napi_env env, napi_status status, void *data) {
  syncfs_job *job = data;
  if (status != napi_ok && job->err == 0) job->err = EINTR;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (job->err == 0) napi_resolve_deferred(env, job->deferred, undefined);
  else napi_reject_deferred(env, job->deferred, errno_error(env, job->err, "syncfs", job->path));
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value js_syncfs_async(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  syncfs_job *job = calloc(1, sizeof *job);
  if (job == NULL) return throw_errno(env, ENOMEM, "syncfs", "");
  if (!get_args(env, info, 1, argv) || !get_path(env, argv[0], job->path)) {
    free(job);
    return NULL;
  }
  napi_value promise = start_job(env, "layerfsck:syncfs", syncfs_execute, syncfs_complete, job, &job->deferred, &job->work);
  if (promise == NULL) {
    free(job);
    return throw_errno(env, ENOMEM, "syncfs", "");
  }
  return promise;
}

/*
 * flock(path, exclusive, create): takes the lock without waiting and returns
 * the open descriptor that holds it (closing it releases the lock), or -1
 * when another open file holds a conflicting lock. A shared lock needs only
 * read access, so a read-only command run by another user can take it.
 */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char path[PATH_BUF];
  bool exclusive = false, create = false;
  if (!get_args(env, info, 3, argv) || !get_path(env, argv[0], path)) return NULL;
  napi_get_value_bool(env, argv[1], &exclusive);
  napi_get_value_bool(env, argv[2], &create);
  int fd = open_plain(path, (exclusive ? O_RDWR : O_RDONLY) | (create ? O_CREAT : 0));
  if (fd < 0) return throw_errno(env, errno, "open", path);
  int rc;
  do rc = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int e = errno;
    close(fd);
    if (e == EWOULDBLOCK) fd = -1;
    else return throw_errno(env, e, "flock", path);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

/*
 * What the JavaScript side expects of this build: raised whenever a call's
 * arguments or an answer's layout change (2: listTreeAsync's inodes and the
 * d_ino field), so that an addon built from older sources is refused at load
 * instead of read wrongly (src/fs/node.ts, NATIVE_ABI).
 */
#define LAYERFSCK_NATIVE_ABI 2

static napi_value init(napi_env env, napi_value exports) {
  napi_value abi;
  if (napi_create_uint32(env, LAYERFSCK_NATIVE_ABI, &abi) != napi_ok || napi_set_named_property(env, exports, "abi", abi) != napi_ok) return NULL;
  napi_property_descriptor props[] = {
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
      {"lchmod", NULL, js_lchmod, NULL, NULL, NULL, napi_default, NULL},
      {"umount", NULL, js_umount, NULL, NULL, NULL, napi_default, NULL},
      {"lutimes", NULL, js_lutimes, NULL, NULL, NULL, napi_default, NULL},
      {"dtype", NULL, js_dtype, NULL, NULL, NULL, napi_default, NULL},
      {"readdir", NULL, js_readdir, NULL, NULL, NULL, napi_default, NULL},
      {"lstat", NULL, js_lstat, NULL, NULL, NULL, napi_default, NULL},
      {"listTreeAsync", NULL, js_list_tree_async, NULL, NULL, NULL, napi_default, NULL},
      {"inspectAsync", NULL, js_inspect_async, NULL, NULL, NULL, napi_default, NULL},
      {"linkNamesAsync", NULL, js_link_names_async, NULL, NULL, NULL, napi_default, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_default, NULL},
      {"syncfsAsync", NULL, js_syncfs_async, NULL, NULL, NULL, napi_default, NULL},
      {"flock", NULL, js_flock, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
