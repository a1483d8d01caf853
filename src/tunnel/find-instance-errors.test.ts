import { describe, expect, test } from "bun:test";
import { CredproxyError } from "../errors";
import type { InstanceSummary } from "./find-instance-describe";
import { awsCallError, listInstances, severalMatches } from "./find-instance-errors";

const instance = (n: number, extra: Partial<InstanceSummary> = {}): InstanceSummary => ({
  instanceId: `i-${String(n).padStart(17, "0")}`,
  name: `web-${n}`,
  state: "running",
  privateIp: `10.0.0.${n}`,
  ...extra,
});

describe("instance lists in discovery errors", () => {
  test("show id, quoted Name tag, state and private IP, one per line", () => {
    expect(listInstances([instance(1), instance(2, { name: undefined, privateIp: undefined, state: "stopped" })])).toBe(
      '  i-00000000000000001 "web-1" running 10.0.0.1\n  i-00000000000000002 (no Name tag) stopped (no private IP)',
    );
  });

  test("quote a Name tag with a newline so it cannot fake another line", () => {
    expect(listInstances([instance(1, { name: "a\n  i-evil" })])).toBe('  i-00000000000000001 "a\\n  i-evil" running 10.0.0.1');
  });

  test("stop after ten instances and count the rest", () => {
    const lines = listInstances(Array.from({ length: 13 }, (_, i) => instance(i + 1))).split("\n");
    expect(lines).toHaveLength(11);
    expect(lines[10]).toBe("  … and 3 more");
  });

  test("say '100 or more' once paging stopped at the cap", () => {
    const error = severalMatches({ role: "web" }, Array.from({ length: 100 }, (_, i) => instance(i + 1)), "eu-west-1");
    expect(error.message).toStartWith("100 or more running instances have tags role=web in eu-west-1");
  });
});

describe("a failed AWS call", () => {
  const region = async () => "eu-west-1";

  test("without an HTTP answer points at the endpoint variable of that service", async () => {
    const error = await awsCallError("ec2:DescribeInstances", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" }), region);
    expect(error.message).toBe("ec2:DescribeInstances in eu-west-1 failed: connect ECONNREFUSED 127.0.0.1:9 (ECONNREFUSED)");
    expect(error.hint).toBe("Check that the EC2 endpoint is reachable (network, DNS, AWS_ENDPOINT_URL_EC2)");
  });

  test("refused with UnauthorizedOperation names the permission", async () => {
    const denied = Object.assign(new Error("You are not authorized to perform this operation."), { name: "UnauthorizedOperation", $fault: "client", $metadata: { httpStatusCode: 403 } });
    const error = await awsCallError("ec2:DescribeInstances", denied, region);
    expect(error.hint).toBe("Allow ec2:DescribeInstances for these credentials (IAM policy of the user or role)");
    expect(error.details).toMatchObject({ awsCode: "UnauthorizedOperation", httpStatus: 403 });
  });

  test("keeps a CredproxyError as it is", async () => {
    const original = new CredproxyError("E_CONFIG_INVALID", "already explained");
    expect(await awsCallError("ssm:DescribeInstanceInformation", original, region)).toBe(original);
  });
});
