// Offline validation of Strimzi custom resources (Kafka, KafkaNodePool, KafkaTopic, KafkaUser)
// in `kustomize build` output, with ../kubernetes-models.mjs.
//
// Strimzi publishes its CRDs only as release assets, which cannot be fetched here, and its
// Maven artifacts carry no CRD YAML. The npm package @kubernetes-models/strimzi-kafka-operator
// is generated from the released CRDs (Strimzi 0.49.0 and 1.0.0).
//
//   node validate.mjs --modules .cache/tools/strimzi/node_modules build1.yaml build2.yaml ...
import { parseArgs, validateResources } from "../kubernetes-models.mjs";

await validateResources({
  ...parseArgs(process.argv), pkg: "@kubernetes-models/strimzi-kafka-operator",
  label: "Strimzi", apiVersion: /^[a-z.]+\.strimzi\.io\/[a-z0-9]+$/,
  // Strimzi 1.0 serves v1 only (the package also models 0.49's v1beta2).
  served: "v1",
});
