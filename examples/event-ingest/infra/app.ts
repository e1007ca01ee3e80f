/**
 * The CDK app: `pnpm synth` (or `npx cdk synth --app "npx tsx infra/app.ts"`) from examples/event-ingest.
 *
 * Environment-agnostic and offline: no lookups, no Docker. The handlers come from a directory of prebuilt bundles:
 * the `bundleDir` context value or EVENT_INGEST_BUNDLE_DIR if given, else `dist/lambda`, built here from `src/`
 * with esbuild. cdk-nag's AwsSolutions checks run on every synth and fail it on any unacknowledged finding.
 */
import { App, Validations } from "aws-cdk-lib"
import { AwsSolutionsChecks } from "cdk-nag"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { bundleHandlers } from "./bundle.js"
import { EventIngestStack } from "./EventIngestStack.js"

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

const app = new App()
const given: unknown = app.node.tryGetContext("bundleDir") ?? process.env["EVENT_INGEST_BUNDLE_DIR"]
const bundleDir = typeof given === "string" && given !== ""
  ? path.resolve(given)
  : path.join(packageDir, "dist", "lambda")
if (given === undefined || given === "") bundleHandlers({ srcDir: path.join(packageDir, "src"), outDir: bundleDir })

new EventIngestStack(app, "EventIngest", {
  bundleDir,
  // The consumer's handler marks each event processed with a conditional UpdateItem (src/consumer.ts).
  consumerTableActions: ["dynamodb:UpdateItem"],
  description: "aws-resilience example: event ingest (API and consumer Lambdas, DynamoDB, SQS FIFO, VPC endpoints)"
})
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }))
app.synth()
