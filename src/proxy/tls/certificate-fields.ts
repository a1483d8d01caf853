/**
 * The two fields of a CA certificate that node:crypto's X509Certificate does not hand out
 * as bytes: the subject Name's DER (a leaf's issuer must equal it byte for byte, so it is
 * sliced out, never re-encoded) and the subjectKeyIdentifier (a leaf's AKI must equal it).
 */
import { CredproxyError, ErrorCode } from "../../errors.ts";

export interface CertificateFields {
  /** DER of the subject Name, exactly as it stands in the certificate. */
  readonly subject: Buffer;
  /** The subjectKeyIdentifier extension's key id, if the certificate has one. */
  readonly subjectKeyId: Buffer | undefined;
}

interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

const SKI_OID_DER = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0e]);

/** Reads subject and SKI from a certificate's DER; throws CredproxyError when it is not DER we can walk. */
export function readCertificateFields(der: Buffer): CertificateFields {
  const certificate = tlvAt(der, 0);
  const tbs = tlvAt(der, certificate.contentStart);
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version is present in v3
  const subject = fields[offset + 4];
  if (!subject || subject.tag !== 0x30) throw malformed();
  const extensions = fields.find((field) => field.tag === 0xa3);
  return {
    subject: Buffer.from(der.subarray(subject.start, subject.end)),
    subjectKeyId: extensions ? findSubjectKeyId(der, extensions) : undefined,
  };
}

function findSubjectKeyId(der: Buffer, wrapper: Tlv): Buffer | undefined {
  const list = tlvAt(der, wrapper.contentStart);
  for (const ext of children(der, list)) {
    const parts = children(der, ext);
    const id = parts[0];
    if (!id || !der.subarray(id.start, id.end).equals(SKI_OID_DER)) continue;
    const octets = parts[parts.length - 1]!;
    const keyId = tlvAt(der, octets.contentStart);
    if (keyId.tag !== 0x04) throw malformed();
    return Buffer.from(der.subarray(keyId.contentStart, keyId.end));
  }
  return undefined;
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = tlvAt(der, at);
    if (child.end > parent.end) throw malformed();
    out.push(child);
    at = child.end;
  }
  return out;
}

/** One tag-length-value at `start`: single-byte tags, definite lengths (all DER needs). */
function tlvAt(der: Buffer, start: number): Tlv {
  const tag = der[start];
  let lengthByte = der[start + 1];
  if (tag === undefined || lengthByte === undefined) throw malformed();
  let at = start + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4) throw malformed();
    length = 0;
    for (let i = 0; i < count; i++) {
      lengthByte = der[at++];
      if (lengthByte === undefined) throw malformed();
      length = length * 256 + lengthByte;
    }
  }
  const end = at + length;
  if (end > der.length) throw malformed();
  return { tag, start, contentStart: at, end };
}

function malformed(): CredproxyError {
  return new CredproxyError(ErrorCode.ConfigInvalid, "the CA certificate is not well-formed DER", {
    hint: "give a PEM X.509 certificate, as written by openssl x509",
  });
}
