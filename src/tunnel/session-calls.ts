/**
 * The three Session Manager API calls a tunnel's data channel needs, over @aws-sdk/client-ssm:
 * StartSession of a Port session to the agent port (AWS-StartSSHSession with portNumber, or a
 * custom Port document), ResumeSession and TerminateSession. The SSM client asks its credential
 * provider on every call, so a resume is signed with what the source gives now.
 *
 * Many policies allow only AWS-StartPortForwardingSession. When StartSession with
 * AWS-StartSSHSession is denied, StartSession is tried once with that document (the session then
 * runs in smux mode, port-mux-channel.ts), with a warning, and later sessions use it directly.
 */
import { ResumeSessionCommand, StartSessionCommand, TerminateSessionCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { errorCode } from "../credentials/_error-text.ts";
import type { DataChannelOptions } from "../ssm/data-channel-types.ts";
import type { Logger } from "../log.ts";
import { awsCallError } from "./find-instance-errors.ts";
import { DEFAULT_DOCUMENT, PORT_FORWARDING_DOCUMENT } from "./tunnel-schema.ts";

export interface SessionCallsOptions {
  readonly ssm: SSMClient;
  readonly instanceId: string;
  readonly document: string;
  readonly agentPort: number;
  readonly logger?: Logger;
}

/** ResumeSession answers these when the session is gone for good: no retry helps. */
const GONE = new Set(["DoesNotExistException", "InvalidSessionId"]);
const DENIED = new Set(["AccessDeniedException", "AccessDenied"]);

export function sessionCalls(options: SessionCallsOptions): Pick<DataChannelOptions, "start" | "resume" | "terminate"> {
  const { ssm } = options;
  const region = () => ssm.config.region();
  // Switches to the port-forwarding document for good after the first denial.
  let document = options.document;
  const startWith = (name: string) => ssm.send(new StartSessionCommand({ Target: options.instanceId, DocumentName: name, Parameters: { portNumber: [String(options.agentPort)] } }));
  return {
    async start() {
      let out;
      try {
        out = await startWith(document);
      } catch (error) {
        if (document !== DEFAULT_DOCUMENT || !DENIED.has(errorCode(error) ?? "")) throw await awsCallError("ssm:StartSession", error, region);
        options.logger?.warn(`StartSession with ${DEFAULT_DOCUMENT} was denied; trying ${PORT_FORWARDING_DOCUMENT} (smux mode)`, { instance: options.instanceId });
        document = PORT_FORWARDING_DOCUMENT;
        try {
          out = await startWith(document);
        } catch (second) {
          throw await awsCallError("ssm:StartSession", second, region);
        }
      }
      if (!out.SessionId || !out.StreamUrl || !out.TokenValue) throw await awsCallError("ssm:StartSession", new Error("the answer lacks SessionId, StreamUrl or TokenValue"), region);
      return { sessionId: out.SessionId, streamUrl: out.StreamUrl, tokenValue: out.TokenValue };
    },
    async resume(sessionId) {
      try {
        const out = await ssm.send(new ResumeSessionCommand({ SessionId: sessionId }));
        return { streamUrl: out.StreamUrl ?? "", tokenValue: out.TokenValue ?? "" };
      } catch (error) {
        if (GONE.has(errorCode(error) ?? "")) return undefined;
        throw await awsCallError("ssm:ResumeSession", error, region);
      }
    },
    async terminate(sessionId) {
      try {
        await ssm.send(new TerminateSessionCommand({ SessionId: sessionId }));
      } catch (error) {
        throw await awsCallError("ssm:TerminateSession", error, region);
      }
    },
  };
}
