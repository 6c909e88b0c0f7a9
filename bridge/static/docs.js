// Starts Swagger UI on the page served at /api/v1/docs (bridge/routes/docs.py).
// It lives in a file of its own because the page's Content-Security-Policy
// allows no inline script; the page names the OpenAPI document in a data
// attribute instead of a script variable.
"use strict";

(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    // The default asks validator.swagger.io about the document; nothing
    // leaves this origin.
    validatorUrl: null,
  });
})();
