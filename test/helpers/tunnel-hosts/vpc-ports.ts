/** The ports vpc-services.ts listens on inside the vpc namespace. */
export const ECHO_PORT = 7001;
export const BULK_PORT = 7002;
export const DNS_PORT = 5300;
