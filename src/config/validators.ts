/**
 * The config validators, generated at build time from the schemas (compile-validators.ts) so
 * the binary does not compile JSON Schema at start-up. They live in the build output,
 * dist/generated/, written by `npm run build` and by `npm test` (which builds first).
 */
import type { ValidateFunction } from "ajv";
// @ts-ignore: generated JavaScript without types, absent until the first build
import * as generated from "../../dist/generated/config-validators.js";

const validators = generated as Record<"validateConfig" | "validateServicesFile" | "validateBrokerConfig" | "validateProxyConfig" | "validateProxyRun" | "validateTunnelConfig", ValidateFunction>;

export const validateConfig: ValidateFunction = validators.validateConfig;
export const validateServicesFile: ValidateFunction = validators.validateServicesFile;
export const validateBrokerConfig: ValidateFunction = validators.validateBrokerConfig;
export const validateProxyConfig: ValidateFunction = validators.validateProxyConfig;
export const validateProxyRun: ValidateFunction = validators.validateProxyRun;
export const validateTunnelConfig: ValidateFunction = validators.validateTunnelConfig;
