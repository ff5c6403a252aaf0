/**
 * statfs(2) f_type magics (linux/magic.h) for the filesystems a layer store
 * meets. Mesos refuses overlay on aufs, btrfs, ecryptfs, overlay and zfs
 * (Mesos' validateBackend); the host pass of `check` needs the names.
 */
export const FS_MAGIC: Readonly<Record<string, number>> = Object.freeze({
  ext4: 0xef53,
  xfs: 0x58465342,
  btrfs: 0x9123683e,
  tmpfs: 0x01021994,
  overlay: 0x794c7630,
  aufs: 0x61756673,
  zfs: 0x2fc12fc1,
  ecryptfs: 0xf15f,
  nfs: 0x6969,
  fuse: 0x65735546,
  squashfs: 0x73717368,
  proc: 0x9fa0,
  sysfs: 0x62656572,
  ramfs: 0x858458f6,
  cgroup2: 0x63677270,
})

export function fsTypeName(magic: number): string {
  for (const [name, m] of Object.entries(FS_MAGIC)) if (m === magic) return name
  return `unknown(0x${magic.toString(16)})`
}

export function fsTypeMagic(name: string): number {
  return FS_MAGIC[name] ?? 0
}
