import { CredproxyError } from "../errors";

/** Test helper: awaits a promise that must reject with a CredproxyError, and returns the error. */
export async function rejection(promise: Promise<unknown>): Promise<CredproxyError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CredproxyError) return error;
    throw new Error(`expected a CredproxyError, got ${String(error)}`);
  }
  throw new Error("expected a rejection");
}
