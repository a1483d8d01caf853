/**
 * For scenario scripts that run inside a network namespace a test created: what is on this
 * namespace's loopback interface right now.
 */
export async function loAddresses(): Promise<string[]> {
  const out = (await Bun.$`ip -j addr show lo`.json()) as { addr_info: { local: string }[] }[];
  return out[0]!.addr_info.map((a) => a.local);
}
