/**
 * A Session Manager document of sessionType Port for accounts whose policies do not allow
 * AWS-StartSSHSession: it opens the same basic-mode Port session (one raw TCP connection to
 * localhost:port on the instance), but its portNumber parameter accepts only the agent's port,
 * so StartSession on this document cannot reach sshd or anything else. There is no KMS key
 * setting: the SSM agent turns session encryption off for Port sessions anyway.
 */
export const SESSION_DOCUMENT_NAME = "Credproxy-AgentPort";

export function portSessionDocument(port: number): Record<string, unknown> {
  return {
    schemaVersion: "1.0",
    description: `credproxy tunnel: a Port session to credproxy agent on localhost:${port}`,
    sessionType: "Port",
    parameters: {
      portNumber: {
        type: "String",
        description: "The port credproxy agent listens on (only this one is allowed)",
        allowedPattern: `^${port}$`,
        default: String(port),
      },
    },
    properties: { portNumber: "{{ portNumber }}" },
  };
}
