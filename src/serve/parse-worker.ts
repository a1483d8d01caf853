/**
 * Worker entry point: parses dynamic service files off the serving thread, so a large or
 * hostile file never delays a credential request (services-file-worker.ts is the other side).
 */
import { parseServicesFile, type ParseRequest } from "./services-file-worker.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<ParseRequest>) => self.postMessage(parseServicesFile(event.data));
