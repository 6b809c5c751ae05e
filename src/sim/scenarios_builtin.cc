// The built-in scenarios: the original stack's demos and end-to-end test scenarios
// (../shared/spec/original-system.md §11), a Krateo composition whose workload crash-loops,
// an OOM-killing Deployment, and a steady background workload with realistic logs.
#include <string_view>
#include <utility>
#include <vector>

#include "sim/scenario.h"

namespace kobs::sim {
namespace {

struct Builtin {
  const char* name;
  const char* description;
  const char* yaml;
};

// Demo scenario 1 of the original stack (demo/scenario1-crashloop.yaml).
constexpr char kCrashloopPod[] = R"(
name: crashloop-pod
manifests: |
  apiVersion: v1
  kind: Pod
  metadata:
    name: demo-crashloop
    namespace: default
    labels: {app: demo-crashloop, scenario: observability-demo}
  spec:
    containers:
    - name: app
      image: busybox
      command: ["sh", "-c", "echo 'Starting demo app...'; sleep 2; echo 'FATAL: unhandled exception in main loop'; exit 1"]
      resources:
        limits: {cpu: 10m, memory: 16Mi}
)";

// E2E scenario B: a healthy Deployment and a rolling update that must record no Warning.
constexpr char kRollingUpdate[] = R"(
name: rolling-update
manifests: |
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: healthy, namespace: default, labels: {app: healthy}}
  spec:
    replicas: 2
    selector: {matchLabels: {app: healthy}}
    template:
      metadata:
        labels: {app: healthy}
        annotations:
          sim.kobs.dev/profile: |
            nginx: {logs: web, logRate: 1, cpu: 5m, memory: 12Mi}
      spec:
        containers:
        - name: nginx
          image: nginx:1.25-alpine
          ports: [{containerPort: 80}]
          readinessProbe:
            httpGet: {path: /, port: 80}
            initialDelaySeconds: 2
            periodSeconds: 3
timeline:
- at: 30s
  setImage: {namespace: default, deployment: healthy, container: nginx, image: "nginx:1.26-alpine"}
)";

// E2E scenario C: a Helm release upgraded to an image tag that does not exist.
constexpr char kHelmBadUpgrade[] = R"(
name: helm-bad-upgrade
timeline:
- at: 0s
  helm:
    action: install
    release: web
    namespace: default
    chart: {name: nginx, version: 18.2.4, appVersion: 1.27.2}
    values: {replicaCount: 1, resources: {limits: {cpu: 50m, memory: 64Mi}}}
    wait: 90s
    manifest: |
      ---
      # Source: nginx/templates/svc.yaml
      apiVersion: v1
      kind: Service
      metadata: {name: web-nginx, labels: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}}
      spec:
        selector: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}
        ports: [{name: http, port: 80, targetPort: http}]
      ---
      # Source: nginx/templates/deployment.yaml
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web-nginx, labels: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}}
      spec:
        replicas: 1
        selector: {matchLabels: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}}
        template:
          metadata:
            labels: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}
            annotations:
              sim.kobs.dev/profile: "nginx: {logs: web, logRate: 1, memory: 20Mi, cpu: 3m}"
          spec:
            containers:
            - name: nginx
              image: docker.io/bitnami/nginx:1.27.2
              ports: [{name: http, containerPort: 8080}]
              readinessProbe: {tcpSocket: {port: http}, periodSeconds: 5}
              resources: {limits: {cpu: 50m, memory: 64Mi}}
- at: 40s
  helm:
    action: upgrade
    release: web
    namespace: default
    chart: {name: nginx, version: 18.2.4, appVersion: 1.27.2}
    values: {replicaCount: 1, image: {repository: nginx, tag: nonexistent-tag}}
    wait: 30s
    manifest: |
      ---
      # Source: nginx/templates/svc.yaml
      apiVersion: v1
      kind: Service
      metadata: {name: web-nginx, labels: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}}
      spec:
        selector: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}
        ports: [{name: http, port: 80, targetPort: http}]
      ---
      # Source: nginx/templates/deployment.yaml
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web-nginx, labels: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}}
      spec:
        replicas: 1
        selector: {matchLabels: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}}
        template:
          metadata:
            labels: {app.kubernetes.io/instance: web, app.kubernetes.io/name: nginx}
            annotations:
              sim.kobs.dev/profile: "nginx: {logs: web, logRate: 1, memory: 20Mi, cpu: 3m}"
          spec:
            containers:
            - name: nginx
              image: nginx:nonexistent-tag
              ports: [{name: http, containerPort: 8080}]
              readinessProbe: {tcpSocket: {port: http}, periodSeconds: 5}
              resources: {limits: {cpu: 50m, memory: 64Mi}}
)";

constexpr char kOom[] = R"(
name: oom
manifests: |
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: memory-hog, namespace: default, labels: {app: memory-hog}}
  spec:
    replicas: 1
    selector: {matchLabels: {app: memory-hog}}
    template:
      metadata:
        labels: {app: memory-hog}
        annotations:
          sim.kobs.dev/profile: |
            app: {memory: 48Mi, memoryGrowth: 8Mi, memoryPeak: 160Mi, cpu: 120m, logs: java, logRate: 2}
      spec:
        containers:
        - name: app
          image: ghcr.io/example/report-builder:3.4.1
          command: ["java", "-Xmx512m", "-jar", "/app/report-builder.jar"]
          resources:
            requests: {memory: 64Mi, cpu: 100m}
            limits: {memory: 96Mi, cpu: 500m}
)";

// E2E scenario E: two crash loops at once, each with its own exit code.
constexpr char kConcurrentCrashloops[] = R"(
name: concurrent-crashloops
manifests: |
  apiVersion: v1
  kind: Pod
  metadata: {name: concurrent-a, namespace: default, labels: {app: concurrent-a}}
  spec:
    containers:
    - {name: app, image: "busybox:1.36", command: ["sh", "-c", "echo 'worker a: cannot reach queue'; exit 1"]}
  ---
  apiVersion: v1
  kind: Pod
  metadata: {name: concurrent-b, namespace: default, labels: {app: concurrent-b}}
  spec:
    containers:
    - {name: app, image: "busybox:1.36", command: ["sh", "-c", "echo 'worker b: invalid configuration'; exit 2"]}
)";

// A Krateo composition (its CRD, the instance labelled with its own uid) whose Deployment
// crash-loops. The pods carry no composition label: it is found by walking their owners.
constexpr char kCompositionCrashloop[] = R"(
name: composition-crashloop
manifests: |
  apiVersion: v1
  kind: Namespace
  metadata: {name: demo-system}
  ---
  apiVersion: apiextensions.k8s.io/v1
  kind: CustomResourceDefinition
  metadata: {name: compositiondefinitions.core.krateo.io}
  spec:
    group: core.krateo.io
    scope: Namespaced
    names: {kind: CompositionDefinition, plural: compositiondefinitions, singular: compositiondefinition, shortNames: [compdef]}
    versions:
    - name: v1alpha1
      served: true
      storage: true
      subresources: {status: {}}
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  ---
  apiVersion: apiextensions.k8s.io/v1
  kind: CustomResourceDefinition
  metadata: {name: fireworksapps.composition.krateo.io}
  spec:
    group: composition.krateo.io
    scope: Namespaced
    names: {kind: FireworksApp, plural: fireworksapps, singular: fireworksapp}
    versions:
    - name: v1-1-10
      served: true
      storage: true
      subresources: {status: {}}
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
timeline:
- at: 1s
  apply: |
    apiVersion: core.krateo.io/v1alpha1
    kind: CompositionDefinition
    metadata: {name: fireworksapp, namespace: demo-system}
    spec:
      chart: {url: "oci://ghcr.io/krateoplatformops/fireworks-app", version: 1.1.10}
    ---
    apiVersion: composition.krateo.io/v1-1-10
    kind: FireworksApp
    metadata: {name: fireworks-demo, namespace: demo-system}
    spec:
      app: {service: {port: 31180, type: NodePort}}
      git: {toRepo: {name: fireworks-demo}}
- at: 2s
  apply: |
    apiVersion: composition.krateo.io/v1-1-10
    kind: FireworksApp
    metadata:
      name: fireworks-demo
      namespace: demo-system
      labels: {krateo.io/composition-id: "${uid:composition.krateo.io/v1-1-10:FireworksApp:demo-system:fireworks-demo}"}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: fireworks-demo-app
      namespace: demo-system
      labels:
        app: fireworks-demo
        krateo.io/composition-id: "${uid:composition.krateo.io/v1-1-10:FireworksApp:demo-system:fireworks-demo}"
    spec:
      replicas: 2
      selector: {matchLabels: {app: fireworks-demo}}
      template:
        metadata: {labels: {app: fireworks-demo}}
        spec:
          containers:
          - name: app
            image: ghcr.io/krateoplatformops/fireworks-app:1.1.10
            command: ["sh", "-c", "echo 'fireworks: starting'; echo -e 'Error: ENOENT: no such file or directory, open /config/app.json\n    at Object.openSync (node:fs:603:3)\n    at main (/app/index.js:12:9)'; exit 1"]
)";

// A steady, healthy background: web, API, worker and cache pods with realistic logs.
constexpr char kBackground[] = R"(
name: background
manifests: |
  apiVersion: v1
  kind: Namespace
  metadata: {name: shop}
  ---
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: frontend, namespace: shop, labels: {app: frontend}}
  spec:
    replicas: 3
    selector: {matchLabels: {app: frontend}}
    template:
      metadata:
        labels: {app: frontend}
        annotations:
          sim.kobs.dev/profile: "web: {logs: web, logRate: 2, cpu: 20m, memory: 24Mi}"
      spec:
        containers:
        - name: web
          image: nginx:1.27
          ports: [{name: http, containerPort: 80}]
          readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 10}
          livenessProbe: {httpGet: {path: /, port: http}, periodSeconds: 20}
  ---
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: orders, namespace: shop, labels: {app: orders}}
  spec:
    replicas: 2
    selector: {matchLabels: {app: orders}}
    template:
      metadata:
        labels: {app: orders}
        annotations:
          sim.kobs.dev/profile: "api: {logs: java, logRate: 1, cpu: 150m, memory: 380Mi}"
      spec:
        containers:
        - name: api
          image: ghcr.io/example/orders:2.8.0
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /actuator/health, port: http}, periodSeconds: 10}
          resources: {limits: {memory: 512Mi}}
  ---
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: payments, namespace: shop, labels: {app: payments}}
  spec:
    replicas: 2
    selector: {matchLabels: {app: payments}}
    template:
      metadata:
        labels: {app: payments}
        annotations:
          sim.kobs.dev/profile: "svc: {logs: json, logRate: 1, cpu: 40m, memory: 64Mi}"
      spec:
        containers:
        - name: svc
          image: ghcr.io/example/payments:1.12.3
          ports: [{name: grpc, containerPort: 9090}]
          readinessProbe: {grpc: {port: 9090}, periodSeconds: 10}
  ---
  apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: cache, namespace: shop}
  spec:
    serviceName: cache
    replicas: 1
    selector: {matchLabels: {app: cache}}
    template:
      metadata:
        labels: {app: cache}
        annotations:
          sim.kobs.dev/profile: "redis: {lines: ['1:M * Background saving started by pid 47', '47:C * DB saved on disk', '1:M * Background saving terminated with success'], logRate: 0.2, memory: 32Mi, cpu: 8m}"
      spec:
        containers:
        - name: redis
          image: redis:7.4
          ports: [{containerPort: 6379}]
          readinessProbe: {tcpSocket: {port: 6379}, periodSeconds: 10}
  ---
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: worker, namespace: shop, labels: {app: worker}}
  spec:
    replicas: 1
    selector: {matchLabels: {app: worker}}
    template:
      metadata:
        labels: {app: worker}
        annotations:
          sim.kobs.dev/profile: "worker: {logs: ansi, logRate: 0.5, cpu: 60m, memory: 48Mi}"
      spec:
        containers:
        - {name: worker, image: "ghcr.io/example/worker:0.9.2"}
)";

constexpr Builtin kBuiltins[] = {
    {"crashloop-pod", "the original demo: a bare busybox pod that exits 1 (CrashLoopBackOff)",
     kCrashloopPod},
    {"rolling-update",
     "a healthy nginx Deployment, then a rolling update at T+30s; no Warning events",
     kRollingUpdate},
    {"helm-bad-upgrade",
     "Helm release web installed, upgraded at T+40s to nginx:nonexistent-tag (fails after 30s)",
     kHelmBadUpgrade},
    {"oom",
     "a Deployment whose memory grows to 160Mi, past its 96Mi limit (OOMKilled until raised)",
     kOom},
    {"concurrent-crashloops", "two pods crash-looping at once with exit codes 1 and 2",
     kConcurrentCrashloops},
    {"composition-crashloop",
     "a Krateo FireworksApp composition whose Deployment crash-loops (namespace demo-system)",
     kCompositionCrashloop},
    {"background", "a steady healthy shop (namespace shop): web, Java, JSON and ANSI logs",
     kBackground},
};

}  // namespace

std::vector<std::pair<std::string, std::string>> BuiltinScenarios() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Builtin& b : kBuiltins) out.emplace_back(b.name, b.description);
  return out;
}

const char* BuiltinScenarioYaml(std::string_view name) {
  for (const Builtin& b : kBuiltins) {
    if (name == b.name) return b.yaml;
  }
  return nullptr;
}

}  // namespace kobs::sim
