/**
 * The incident's application: an API Lambda that stores an event (`EventStore.put`) and enqueues it on a FIFO queue
 * (`EventQueue.enqueue`), and a consumer Lambda fed by that queue, both inside a VPC with no route to the internet.
 *
 * - Network: isolated subnets only (no NAT, no internet gateway); DynamoDB through a gateway endpoint, SQS and STS
 *   through interface endpoints with private DNS, whose security group admits 443 from the functions' group only.
 * - IAM: one role per function, every statement written out (no managed policies, no CDK grants): the actions each
 *   function uses, on the table's and the queue's ARNs, and its own log group.
 * - Data: the table keyed `id` (string), on demand, point-in-time recovery; the queue and its dead-letter queue
 *   FIFO, SSE-SQS, TLS only.
 *
 * The handlers are not built here: `bundleDir` holds one prebuilt bundle per function (see `EventIngestStackProps`),
 * so the stack synthesises offline and without Docker.
 */
import { Duration, RemovalPolicy, Stack, type StackProps, Validations } from "aws-cdk-lib"
import * as dynamodb from "aws-cdk-lib/aws-dynamodb"
import * as ec2 from "aws-cdk-lib/aws-ec2"
import * as iam from "aws-cdk-lib/aws-iam"
import * as lambda from "aws-cdk-lib/aws-lambda"
import * as logs from "aws-cdk-lib/aws-logs"
import * as sqs from "aws-cdk-lib/aws-sqs"
import type { Construct } from "constructs"
import * as path from "node:path"

/** The actions the consumer may be given on the table, when its handler reads or writes events there. */
export type ConsumerTableAction = "dynamodb:GetItem" | "dynamodb:UpdateItem"

export interface EventIngestStackProps extends StackProps {
  /**
   * A directory of prebuilt handler bundles: `<bundleDir>/api/index.mjs` and `<bundleDir>/consumer/index.mjs`,
   * each exporting `handler` (the whole subdirectory is the function's asset). `bundleHandlers` in `./bundle.ts`
   * builds them from `src/api.ts` and `src/consumer.ts`.
   */
  readonly bundleDir: string
  /** Receives of a message before the queue moves it to the dead-letter queue. @default 5 */
  readonly maxReceiveCount?: number
  /** Messages per consumer invocation (a FIFO queue allows at most 10). @default 10 */
  readonly consumerBatchSize?: number
  /** What the consumer's handler does on the table, if anything. @default [] (it only reads the queue) */
  readonly consumerTableActions?: ReadonlyArray<ConsumerTableAction>
}

/** The environment variables the handlers read. */
export const HandlerEnv = {
  tableName: "EVENTS_TABLE_NAME",
  queueUrl: "EVENTS_QUEUE_URL"
} as const

/** What Lambda needs to attach a function to the VPC: the actions of the managed AWSLambdaVPCAccessExecutionRole. */
export const vpcAccessActions = [
  "ec2:CreateNetworkInterface",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeSubnets",
  "ec2:DeleteNetworkInterface",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses"
] as const

/** What the event source mapping needs, with the consumer's role, to poll the queue and settle the batches. */
export const queueConsumerActions = [
  "sqs:ReceiveMessage",
  "sqs:DeleteMessage",
  "sqs:ChangeMessageVisibility",
  "sqs:GetQueueAttributes"
] as const

export class EventIngestStack extends Stack {
  readonly vpc: ec2.IVpc
  readonly table: dynamodb.Table
  readonly queue: sqs.Queue
  readonly deadLetterQueue: sqs.Queue
  readonly functionsSecurityGroup: ec2.SecurityGroup
  readonly endpointsSecurityGroup: ec2.SecurityGroup
  readonly apiFunction: lambda.Function
  readonly consumerFunction: lambda.Function
  readonly eventSourceMapping: lambda.EventSourceMapping

  constructor(scope: Construct, id: string, props: EventIngestStackProps) {
    super(scope, id, props)
    const consumerTimeout = Duration.seconds(30)
    const consumerBatchSize = props.consumerBatchSize ?? 10
    if (!Number.isInteger(consumerBatchSize) || consumerBatchSize < 1 || consumerBatchSize > 10) {
      throw new Error(`EventIngestStack: consumerBatchSize ${consumerBatchSize}: a FIFO queue's batches hold 1 to 10`)
    }
    const isolated: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }

    // ---- network ------------------------------------------------------------------------------------------------
    // Seen as an IVpc: under exactOptionalPropertyTypes, aws-cdk-lib's Vpc class (`vpnGatewayId: string | undefined`)
    // is not assignable to its own interface (`vpnGatewayId?: string`).
    this.vpc = new ec2.Vpc(this, "Vpc", {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: "isolated", subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      // Restricting it takes a custom-resource Lambda; nothing here uses the default group.
      restrictDefaultSecurityGroup: false
    }) as unknown as ec2.IVpc
    const flowLogGroup = new logs.LogGroup(this, "FlowLogs", {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN
    })
    this.vpc.addFlowLog("FlowLog", {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL
    })

    this.functionsSecurityGroup = new ec2.SecurityGroup(this, "FunctionsSecurityGroup", {
      vpc: this.vpc,
      description: "The event-ingest functions",
      allowAllOutbound: false
    })
    // HTTPS out, nothing else. The subnets route nowhere but the VPC and the DynamoDB gateway endpoint, whose
    // prefix list id cannot be known to an environment-agnostic synth: so any address, port 443 only.
    this.functionsSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      "HTTPS to the VPC endpoints (isolated subnets: nothing else is reachable)"
    )
    this.endpointsSecurityGroup = new ec2.SecurityGroup(this, "EndpointsSecurityGroup", {
      vpc: this.vpc,
      description: "The SQS and STS interface endpoints: HTTPS from the event-ingest functions only",
      allowAllOutbound: false
    })
    this.endpointsSecurityGroup.addIngressRule(
      this.functionsSecurityGroup,
      ec2.Port.tcp(443),
      "HTTPS from the event-ingest functions"
    )

    this.vpc.addGatewayEndpoint("DynamoDbEndpoint", {
      service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
      subnets: [isolated]
    })
    const interfaceEndpoints = {
      SqsEndpoint: ec2.InterfaceVpcEndpointAwsService.SQS,
      StsEndpoint: ec2.InterfaceVpcEndpointAwsService.STS
    }
    for (const [name, service] of Object.entries(interfaceEndpoints)) {
      this.vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        subnets: isolated,
        securityGroups: [this.endpointsSecurityGroup],
        // `open` would admit 443 from the whole VPC CIDR: the rule above admits the functions' group only.
        open: false
      })
    }

    // ---- data ---------------------------------------------------------------------------------------------------
    this.table = new dynamodb.Table(this, "Events", {
      partitionKey: { name: "id", type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN
    })

    this.deadLetterQueue = new sqs.Queue(this, "EventsDeadLetterQueue", {
      fifo: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14)
    })
    this.queue = new sqs.Queue(this, "EventsQueue", {
      fifo: true,
      // EventQueue sends the event id as the deduplication id.
      contentBasedDeduplication: false,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Six times the consumer's timeout, as Lambda advises for queues it polls.
      visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 }
    })

    // ---- functions ----------------------------------------------------------------------------------------------
    this.apiFunction = this.makeFunction("Api", {
      code: path.join(props.bundleDir, "api"),
      timeout: Duration.seconds(10),
      environment: { [HandlerEnv.tableName]: this.table.tableName, [HandlerEnv.queueUrl]: this.queue.queueUrl },
      statements: [
        new iam.PolicyStatement({
          sid: "EventStorePut",
          // UpdateItem: the conditional write; GetItem: the read-back when the condition fails.
          actions: ["dynamodb:UpdateItem", "dynamodb:GetItem"],
          resources: [this.table.tableArn]
        }),
        new iam.PolicyStatement({
          sid: "EventQueueEnqueue",
          actions: ["sqs:SendMessage"],
          resources: [this.queue.queueArn]
        })
      ]
    })

    const consumerTableActions = [...new Set(props.consumerTableActions ?? [])]
    this.consumerFunction = this.makeFunction("Consumer", {
      code: path.join(props.bundleDir, "consumer"),
      timeout: consumerTimeout,
      environment: { [HandlerEnv.tableName]: this.table.tableName },
      statements: [
        new iam.PolicyStatement({
          sid: "EventSourceMapping",
          actions: [...queueConsumerActions],
          resources: [this.queue.queueArn]
        }),
        ...(consumerTableActions.length > 0
          ? [
            new iam.PolicyStatement({
              sid: "EventStore",
              actions: consumerTableActions,
              resources: [this.table.tableArn]
            })
          ]
          : [])
      ]
    })

    // A bare mapping rather than `SqsEventSource`, which would grant through `grantConsumeMessages` (adding
    // sqs:GetQueueUrl) in a policy of its own: the role already holds exactly what polling needs.
    this.eventSourceMapping = new lambda.EventSourceMapping(this, "ConsumerEventSource", {
      target: this.consumerFunction,
      eventSourceArn: this.queue.queueArn,
      batchSize: consumerBatchSize,
      reportBatchItemFailures: true
    })
  }

  private makeFunction(name: string, options: {
    readonly code: string
    readonly timeout: Duration
    readonly environment: Record<string, string>
    readonly statements: ReadonlyArray<iam.PolicyStatement>
  }): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${name}Logs`, {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN
    })
    // Inline in the role, so that every permission exists before the function (and its network interfaces) and is
    // removed only after them.
    const role = new iam.Role(this, `${name}Role`, {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `The event-ingest ${name} function`,
      inlinePolicies: {
        [name]: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: "Logs",
              actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
              resources: [logGroup.logGroupArn]
            }),
            new iam.PolicyStatement({ sid: "VpcAccess", actions: [...vpcAccessActions], resources: ["*"] }),
            ...options.statements
          ]
        })
      }
    })
    Validations.of(role).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "Only the VpcAccess statement has Resource '*': the network-interface actions Lambda needs to put the " +
        "function in the VPC (those of AWSLambdaVPCAccessExecutionRole). ec2:Describe* support no resource-level " +
        "permissions and the interfaces' ids are not known before Lambda creates them; every other statement names " +
        "its log group, table or queue."
    })

    const fn = new lambda.Function(this, name, {
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: "index.handler",
      code: lambda.Code.fromAsset(options.code),
      memorySize: 512,
      timeout: options.timeout,
      environment: options.environment,
      role,
      logGroup,
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [this.functionsSecurityGroup]
    })
    Validations.of(fn).acknowledge({
      id: "AwsSolutions-L1",
      reason: "Node.js 22 is the runtime the application is built and tested for (the issue asks for it, and the " +
        "bundles target node22); moving to Node.js 24 is a separate change with its own test run."
    })
    return fn
  }
}
