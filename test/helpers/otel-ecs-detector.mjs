import { awsEcsDetector } from "@opentelemetry/resource-detector-aws";
const r = awsEcsDetector.detect();
const out = {};
for (const [k, v] of Object.entries(r.attributes ?? {})) out[k] = await v;
console.log(JSON.stringify(out));
