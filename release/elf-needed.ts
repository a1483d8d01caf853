/**
 * The DT_NEEDED entries of an ELF file (the shared libraries it names), read from its dynamic
 * section without running anything, so it works for a binary of another architecture where
 * `ldd` cannot (ldd runs the binary's loader). Used to fill a FROM-scratch context for a
 * foreign architecture from a cross sysroot such as Debian's libc6-arm64-cross.
 */
import { closeSync, openSync, readSync } from "node:fs";

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;

export function elfNeeded(path: string): string[] {
  const fd = openSync(path, "r");
  try {
    const read = (offset: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, offset);
      if (n !== length) throw new Error(`${path}: truncated ELF file`);
      return buf;
    };
    const ident = read(0, 64);
    if (ident.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not an ELF file`);
    const is64 = ident[4] === 2;
    const le = ident[5] === 1;
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number): number => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const phoff = word(ident, is64 ? 32 : 28);
    const phentsize = u16(ident, is64 ? 54 : 42);
    const phnum = u16(ident, is64 ? 56 : 44);
    const loads: { vaddr: number; offset: number; filesz: number }[] = [];
    let dynamic: { offset: number; size: number } | undefined;
    for (let i = 0; i < phnum; i++) {
      const ph = read(phoff + i * phentsize, phentsize);
      const type = u32(ph, 0);
      const offset = word(ph, is64 ? 8 : 4);
      const vaddr = word(ph, is64 ? 16 : 8);
      const filesz = word(ph, is64 ? 32 : 16);
      if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
      if (type === PT_DYNAMIC) dynamic = { offset, size: filesz };
    }
    if (dynamic === undefined) return []; // static
    const entrySize = is64 ? 16 : 8;
    const table = read(dynamic.offset, dynamic.size);
    const needed: number[] = [];
    let strtab: number | undefined;
    for (let o = 0; o + entrySize <= table.length; o += entrySize) {
      const tag = word(table, o);
      const value = word(table, o + entrySize / 2);
      if (tag === DT_NULL) break;
      if (tag === DT_NEEDED) needed.push(value);
      if (tag === DT_STRTAB) strtab = value;
    }
    if (needed.length === 0) return [];
    if (strtab === undefined) throw new Error(`${path}: DT_NEEDED without DT_STRTAB`);
    const segment = loads.find((l) => strtab! >= l.vaddr && strtab! < l.vaddr + l.filesz);
    if (segment === undefined) throw new Error(`${path}: DT_STRTAB 0x${strtab.toString(16)} is in no PT_LOAD segment`);
    const strtabOffset = segment.offset + (strtab - segment.vaddr);
    return needed.map((n) => {
      const chunk = read(strtabOffset + n, 256);
      const end = chunk.indexOf(0);
      if (end < 0) throw new Error(`${path}: DT_NEEDED name longer than 255 bytes`);
      return chunk.toString("latin1", 0, end);
    });
  } finally {
    closeSync(fd);
  }
}
