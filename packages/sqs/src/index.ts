export * as EventQueue from "./EventQueue.js"
export * as SQS from "./SQS.js"
