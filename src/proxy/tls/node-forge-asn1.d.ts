/**
 * Types for the one part of node-forge credproxy uses: its ASN.1 DER encoder and decoder.
 * The rest of forge (its RSA, its X.509, its PRNG) is deliberately not imported: keys and
 * signatures come from node:crypto. Byte strings are forge's "binary strings", one char per octet.
 */
declare module "node-forge/lib/asn1.js" {
  interface Asn1 {
    tagClass: number;
    type: number;
    constructed: boolean;
    composed: boolean;
    value: string | Asn1[];
  }
  interface ByteBuffer {
    getBytes(count?: number): string;
    length(): number;
  }
  const asn1: {
    Class: { UNIVERSAL: number; APPLICATION: number; CONTEXT_SPECIFIC: number; PRIVATE: number };
    Type: {
      BOOLEAN: number;
      INTEGER: number;
      BITSTRING: number;
      OCTETSTRING: number;
      NULL: number;
      OID: number;
      UTF8: number;
      SEQUENCE: number;
      SET: number;
      PRINTABLESTRING: number;
      IA5STRING: number;
      UTCTIME: number;
      GENERALIZEDTIME: number;
    };
    create(tagClass: number, type: number, constructed: boolean, value: string | Asn1[]): Asn1;
    toDer(object: Asn1): ByteBuffer;
    fromDer(bytes: string, options?: { strict?: boolean; decodeBitStrings?: boolean; parseAllBytes?: boolean }): Asn1;
    oidToDer(oid: string): ByteBuffer;
    derToOid(bytes: string): string;
    dateToUtcTime(date: Date): string;
    dateToGeneralizedTime(date: Date): string;
    utcTimeToDate(text: string): Date;
    generalizedTimeToDate(text: string): Date;
  };
  export default asn1;
  export type { Asn1 };
}
