// The synthesised template of the event-ingest stack: network, IAM, data and the consumer's wiring, and cdk-nag's
// AwsSolutions checks. One synth for the whole file (beforeAll); the bundles are stub files in a temp directory.
import { App, Aspects } from "aws-cdk-lib"
import { Match, Template } from "aws-cdk-lib/assertions"
import type * as iam from "aws-cdk-lib/aws-iam"
import type * as lambda from "aws-cdk-lib/aws-lambda"
import { AwsSolutionsChecks, WriteNagSuppressionsToCloudFormationAspect } from "cdk-nag"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bundleHandlers } from "../infra/bundle.js"
import { EventIngestStack, queueConsumerActions, vpcAccessActions } from "../infra/EventIngestStack.js"

type Json = any
interface Resource {
  readonly Type: string
  readonly Properties?: Json
  readonly Metadata?: Json
}

const stubSource = (name: string) => `export const handler = async () => "stub ${name}"\n`

let workDir: string
let app: App
let stack: EventIngestStack
let template: Template
let resources: Record<string, Resource>

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "event-ingest-infra-"))
  const bundleDir = path.join(workDir, "bundles")
  for (const name of ["api", "consumer"]) {
    fs.mkdirSync(path.join(bundleDir, name), { recursive: true })
    fs.writeFileSync(path.join(bundleDir, name, "index.mjs"), stubSource(name))
  }
  app = new App({ outdir: path.join(workDir, "cdk.out") })
  stack = new EventIngestStack(app, "EventIngest", { bundleDir })
  // app.ts registers AwsSolutionsChecks as a validation plugin, which fails the synth on any finding; here the
  // checks run in their own test (validateScope) so that a finding does not hide the other tests' results. The
  // aspect writes the acknowledgements into the template, as `writeSuppressionsToCloudFormation` does in app.ts.
  Aspects.of(app).add(new WriteNagSuppressionsToCloudFormationAspect())
  template = Template.fromStack(stack)
  resources = template.toJSON().Resources
})

afterAll(() => {
  if (workDir !== undefined) fs.rmSync(workDir, { recursive: true, force: true })
})

// ---- helpers ----------------------------------------------------------------------------------------------------

const ofType = (type: string): Array<[string, Resource]> => Object.entries(resources).filter(([, r]) => r.Type === type)

const only = (type: string): [string, Resource] => {
  const found = ofType(type)
  expect(found, type).toHaveLength(1)
  return found[0]!
}

const logicalId = (construct: { node: { defaultChild?: unknown } }): string =>
  stack.getLogicalId(construct.node.defaultChild as never)

/** What the template says for a token (`Ref`, `Fn::GetAtt`, ...). */
const cfn = (value: unknown): Json => stack.resolve(value)

const asArray = <A>(value: A | ReadonlyArray<A>): ReadonlyArray<A> => (Array.isArray(value) ? value : [value as A])

/** A statement as a comparable value: its actions sorted, its resources a list. */
const normalise = (statement: Json) => ({
  Sid: statement.Sid,
  Effect: statement.Effect,
  Action: [...asArray<string>(statement.Action)].sort(),
  Resource: asArray(statement.Resource),
  ...(statement.Condition === undefined ? {} : { Condition: statement.Condition }),
  ...(statement.NotAction === undefined ? {} : { NotAction: statement.NotAction }),
  ...(statement.NotResource === undefined ? {} : { NotResource: statement.NotResource })
})

/** Every statement the role holds: inline in the role and in any AWS::IAM::Policy attached to it. */
const statementsOf = (roleId: string): Array<Json> => {
  const role = resources[roleId]!
  expect(role.Type).toBe("AWS::IAM::Role")
  const inline = (role.Properties.Policies ?? []).flatMap((p: Json) => p.PolicyDocument.Statement)
  const attached = ofType("AWS::IAM::Policy")
    .filter(([, p]) => (p.Properties.Roles ?? []).some((r: Json) => r.Ref === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
  return [...inline, ...attached].map(normalise)
}

const roleIdOf = (fn: lambda.Function) => cfn(fn.role!.roleArn)["Fn::GetAtt"][0] as string

const allow = (Sid: string, actions: ReadonlyArray<string>, resource: unknown) =>
  normalise({ Sid, Effect: "Allow", Action: actions, Resource: resource })

// ---- network ----------------------------------------------------------------------------------------------------

describe("network", () => {
  it("has isolated subnets only: no NAT gateway, no internet gateway, no route out of the VPC", () => {
    template.resourceCountIs("AWS::EC2::NatGateway", 0)
    template.resourceCountIs("AWS::EC2::InternetGateway", 0)
    template.resourceCountIs("AWS::EC2::EgressOnlyInternetGateway", 0)
    template.resourceCountIs("AWS::EC2::VPCGatewayAttachment", 0)
    template.resourceCountIs("AWS::EC2::Route", 0)
    const subnets = ofType("AWS::EC2::Subnet")
    expect(subnets).toHaveLength(2)
    for (const [, subnet] of subnets) {
      expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false)
      expect(subnet.Properties.Tags).toContainEqual({ Key: "aws-cdk:subnet-type", Value: "Isolated" })
    }
  })

  it("logs the VPC's traffic (flow log to CloudWatch Logs)", () => {
    template.hasResourceProperties("AWS::EC2::FlowLog", {
      ResourceId: cfn(stack.vpc.vpcId),
      ResourceType: "VPC",
      TrafficType: "ALL",
      LogDestinationType: "cloud-watch-logs"
    })
  })

  it("has a DynamoDB gateway endpoint on the subnets' route tables, SQS and STS interface endpoints with private DNS", () => {
    const endpoints = ofType("AWS::EC2::VPCEndpoint").map(([, e]) => e.Properties)
    const service = (e: Json) => (e.ServiceName["Fn::Join"][1] as Array<unknown>).at(-1)
    expect(endpoints.map(service).sort()).toEqual([".dynamodb", ".sqs", ".sts"])

    const isolated = stack.vpc.isolatedSubnets
    const gateway = endpoints.find((e) => service(e) === ".dynamodb")!
    expect(gateway.VpcEndpointType).toBe("Gateway")
    expect(gateway.RouteTableIds).toEqual(isolated.map((s) => cfn(s.routeTable.routeTableId)))

    for (const e of endpoints.filter((e) => service(e) !== ".dynamodb")) {
      expect(e.VpcEndpointType).toBe("Interface")
      expect(e.PrivateDnsEnabled).toBe(true)
      expect(e.SecurityGroupIds).toEqual([cfn(stack.endpointsSecurityGroup.securityGroupId)])
      expect(e.SubnetIds).toEqual(isolated.map((s) => cfn(s.subnetId)))
    }
  })

  it("admits 443 to the endpoints from the functions' security group only, and nothing else anywhere", () => {
    const endpointsGroup = cfn(stack.endpointsSecurityGroup.securityGroupId)
    const functionsGroup = cfn(stack.functionsSecurityGroup.securityGroupId)
    const inline = ofType("AWS::EC2::SecurityGroup").flatMap(([id, g]) =>
      (g.Properties.SecurityGroupIngress ?? []).map((rule: Json) => ({
        ...rule,
        GroupId: { "Fn::GetAtt": [id, "GroupId"] }
      }))
    )
    const separate = ofType("AWS::EC2::SecurityGroupIngress").map(([, r]) => r.Properties)
    const strip = ({ Description: _, ...rule }: Json) => rule
    expect([...inline, ...separate].map(strip)).toEqual([
      { GroupId: endpointsGroup, IpProtocol: "tcp", FromPort: 443, ToPort: 443, SourceSecurityGroupId: functionsGroup }
    ])
  })

  it("lets the functions out on 443 only, and the endpoints not at all", () => {
    const groups = Object.fromEntries(ofType("AWS::EC2::SecurityGroup"))
    const egressOf = (group: { node: { defaultChild?: unknown } }) =>
      groups[logicalId(group)]!.Properties.SecurityGroupEgress.map(({ Description: _, ...rule }: Json) => rule)
    expect(egressOf(stack.functionsSecurityGroup)).toEqual([
      { CidrIp: "0.0.0.0/0", IpProtocol: "tcp", FromPort: 443, ToPort: 443 }
    ])
    // CDK's placeholder for "no egress".
    expect(egressOf(stack.endpointsSecurityGroup)).toEqual([
      { CidrIp: "255.255.255.255/32", IpProtocol: "icmp", FromPort: 252, ToPort: 86 }
    ])
    template.resourceCountIs("AWS::EC2::SecurityGroupEgress", 0)
  })

  it("puts both functions in the isolated subnets behind the functions' group", () => {
    for (const fn of [stack.apiFunction, stack.consumerFunction]) {
      expect(resources[logicalId(fn)]!.Properties.VpcConfig).toEqual({
        SecurityGroupIds: [cfn(stack.functionsSecurityGroup.securityGroupId)],
        SubnetIds: stack.vpc.isolatedSubnets.map((s) => cfn(s.subnetId))
      })
    }
  })
})

// ---- IAM --------------------------------------------------------------------------------------------------------

describe("IAM", () => {
  const vpcAccess = () => allow("VpcAccess", vpcAccessActions, "*")
  const logs = (fn: lambda.Function) =>
    allow("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], cfn(fn.logGroup.logGroupArn))

  it("gives the API function exactly UpdateItem and GetItem on the table and SendMessage on the queue", () => {
    const statements = statementsOf(roleIdOf(stack.apiFunction))
    expect(statements).toEqual(expect.arrayContaining([
      logs(stack.apiFunction),
      vpcAccess(),
      allow("EventStorePut", ["dynamodb:UpdateItem", "dynamodb:GetItem"], cfn(stack.table.tableArn)),
      allow("EventQueueEnqueue", ["sqs:SendMessage"], cfn(stack.queue.queueArn))
    ]))
    expect(statements).toHaveLength(4)
  })

  it("gives the consumer exactly what the event source mapping needs on the queue, and nothing on the table", () => {
    const statements = statementsOf(roleIdOf(stack.consumerFunction))
    expect(statements).toEqual(expect.arrayContaining([
      logs(stack.consumerFunction),
      vpcAccess(),
      allow("EventSourceMapping", queueConsumerActions, cfn(stack.queue.queueArn))
    ]))
    expect(statements).toHaveLength(3)
    expect(queueConsumerActions).toEqual([
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes"
    ])
  })

  it("gives the consumer the table actions it is configured with, on the table only", () => {
    const other = new EventIngestStack(new App(), "Other", {
      bundleDir: path.join(workDir, "bundles"),
      consumerTableActions: ["dynamodb:UpdateItem", "dynamodb:GetItem"]
    })
    const role = other.consumerFunction.role!.node.defaultChild as iam.CfnRole
    const statements = other.resolve(role.policies)[0].policyDocument.Statement.map(normalise)
    expect(statements.map((s: Json) => s.Sid)).toEqual(["Logs", "VpcAccess", "EventSourceMapping", "EventStore"])
    expect(statements[3]).toEqual(
      allow("EventStore", ["dynamodb:UpdateItem", "dynamodb:GetItem"], other.resolve(other.table.tableArn))
    )
    expect(() => new EventIngestStack(new App(), "Big", { bundleDir: workDir, consumerBatchSize: 11 })).toThrow(
      /consumerBatchSize 11/
    )
  })

  it("attaches no managed policy, and grants on '*' only the VPC network-interface actions", () => {
    for (const [, role] of ofType("AWS::IAM::Role")) expect(role.Properties.ManagedPolicyArns).toBeUndefined()
    template.resourceCountIs("AWS::IAM::ManagedPolicy", 0)
    const roles = ofType("AWS::IAM::Role").map(([id]) => id)
    const wildcards = roles.flatMap(statementsOf).filter((s) =>
      s.Resource.some((r: unknown) => r === "*" || String(r).includes("*"))
    )
    expect(wildcards).toEqual([vpcAccess(), vpcAccess()])
    // The Lambda roles and the flow log's, whose one policy is its log group's.
    expect(roles).toHaveLength(3)
  })

  it("lets the flow log write to its own log group only", () => {
    const [flowLogRoleId] = ofType("AWS::IAM::Role").find(([, r]) =>
      r.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service === "vpc-flow-logs.amazonaws.com"
    )!
    const [, flowLog] = only("AWS::EC2::FlowLog")
    expect(statementsOf(flowLogRoleId).map(({ Sid: _, ...s }) => s)).toEqual([{
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
      Resource: [{ "Fn::GetAtt": [flowLog.Properties.LogGroupName.Ref, "Arn"] }]
    }])
  })
})

// ---- data -------------------------------------------------------------------------------------------------------

describe("data", () => {
  it("keys the table by id (string), on demand, with point-in-time recovery", () => {
    const [, table] = only("AWS::DynamoDB::Table")
    expect(table.Properties).toMatchObject({
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      BillingMode: "PAY_PER_REQUEST",
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }
    })
  })

  it("makes the queue FIFO with a FIFO dead-letter queue and a redrive policy, both SSE-SQS", () => {
    expect(ofType("AWS::SQS::Queue")).toHaveLength(2)
    const queue = resources[logicalId(stack.queue)]!.Properties
    const dlq = resources[logicalId(stack.deadLetterQueue)]!.Properties
    expect(queue).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: cfn(stack.deadLetterQueue.queueArn), maxReceiveCount: 5 }
    })
    expect(dlq).toMatchObject({ FifoQueue: true, SqsManagedSseEnabled: true })
    expect(dlq.RedrivePolicy).toBeUndefined()
    // Lambda wants the visibility timeout at least the consumer's timeout (six times, as advised).
    expect(queue.VisibilityTimeout).toBe(6 * resources[logicalId(stack.consumerFunction)]!.Properties.Timeout)
  })

  it("denies every request to either queue that is not over TLS", () => {
    for (const q of [stack.queue, stack.deadLetterQueue]) {
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [cfn(q.queueUrl)],
        PolicyDocument: {
          Statement: Match.arrayWith([{
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: "sqs:*",
            Resource: cfn(q.queueArn),
            Condition: { Bool: { "aws:SecureTransport": "false" } }
          }])
        }
      })
    }
  })
})

// ---- functions --------------------------------------------------------------------------------------------------

describe("functions", () => {
  it("runs both functions (and nothing else) on Node 22", () => {
    const functions = ofType("AWS::Lambda::Function")
    expect(functions.map(([id]) => id).sort()).toEqual(
      [logicalId(stack.apiFunction), logicalId(stack.consumerFunction)].sort()
    )
    for (const [, fn] of functions) {
      expect(fn.Properties).toMatchObject({ Runtime: "nodejs22.x", Handler: "index.handler" })
    }
  })

  it("deploys each function from its own bundle directory", () => {
    for (const [fn, name] of [[stack.apiFunction, "api"], [stack.consumerFunction, "consumer"]] as const) {
      const key: string = resources[logicalId(fn)]!.Properties.Code.S3Key
      const staged = path.join(app.outdir, `asset.${key.replace(/\.zip$/, "")}`, "index.mjs")
      expect(fs.readFileSync(staged, "utf8")).toBe(stubSource(name))
    }
  })

  it("tells the handlers where the table and the queue are", () => {
    expect(resources[logicalId(stack.apiFunction)]!.Properties.Environment.Variables).toEqual({
      EVENTS_TABLE_NAME: cfn(stack.table.tableName),
      EVENTS_QUEUE_URL: cfn(stack.queue.queueUrl)
    })
  })

  it("maps the queue to the consumer with partial batch responses (ReportBatchItemFailures)", () => {
    const [, mapping] = only("AWS::Lambda::EventSourceMapping")
    expect(mapping.Properties).toEqual({
      EventSourceArn: cfn(stack.queue.queueArn),
      FunctionName: cfn(stack.consumerFunction.functionName),
      BatchSize: 10,
      FunctionResponseTypes: ["ReportBatchItemFailures"]
    })
  })
})

// ---- cdk-nag ----------------------------------------------------------------------------------------------------

describe("cdk-nag AwsSolutions", () => {
  it("finds nothing left unacknowledged (and CDK annotated no error or warning)", () => {
    const report = new AwsSolutionsChecks().validateScope(stack)
    expect(report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath)}`)).toEqual(
      []
    )
    expect(report.success).toBe(true)
    // The annotations of the synth in beforeAll (Annotations.fromStack would synthesise again).
    const messages = app.synth().getStackArtifact(stack.artifactId).messages
    expect(messages.filter((m) => m.level !== "info").map((m) => `${m.level} ${m.id}: ${String(m.entry.data)}`))
      .toEqual([])
  })

  it("acknowledges only the expected findings, each with a reason", () => {
    // The audit trail cdk-nag writes (writeSuppressionsToCloudFormation); CDK's own acknowledgements of its
    // CloudFormation-Validate rules are copied there too, and left out here.
    const acknowledged = Object.entries(resources).flatMap(([id, r]) =>
      (r.Metadata?.cdk_nag?.rules_to_suppress ?? []).map((rule: Json) => ({ id, rule: rule.id, reason: rule.reason }))
    ).filter(({ rule }) => rule.startsWith("AwsSolutions-"))
    expect(acknowledged.map(({ id, rule }) => `${id} ${rule}`).sort()).toEqual([
      `${logicalId(stack.apiFunction)} AwsSolutions-L1`,
      `${roleIdOf(stack.apiFunction)} AwsSolutions-IAM5[Resource::*]`,
      `${logicalId(stack.consumerFunction)} AwsSolutions-L1`,
      `${roleIdOf(stack.consumerFunction)} AwsSolutions-IAM5[Resource::*]`
    ].sort())
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(80)
  })
})

// ---- bundling ---------------------------------------------------------------------------------------------------

describe("bundleHandlers", () => {
  it("builds <outDir>/<name>/index.mjs from src/<name>.ts, an ESM module exporting handler", async () => {
    const srcDir = path.join(workDir, "src")
    const outDir = path.join(workDir, "dist")
    fs.mkdirSync(srcDir)
    for (const name of ["api", "consumer"]) {
      fs.writeFileSync(
        path.join(srcDir, `${name}.ts`),
        `import { createHash } from "node:crypto"\n` +
          `export const handler = async (event: { readonly n: number }): Promise<string> =>\n` +
          `  "${name} " + createHash("sha256").update(String(event.n)).digest("hex").slice(0, 8)\n`
      )
    }
    bundleHandlers({ srcDir, outDir })
    for (const name of ["api", "consumer"]) {
      const bundle = path.join(outDir, name, "index.mjs")
      const module = await import(pathToFileURL(bundle).href)
      expect(await module.handler({ n: 1 })).toBe(`${name} 6b86b273`)
    }
  })
})
