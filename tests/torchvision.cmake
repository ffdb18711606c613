# Differential tests against PyTorch 1.13 (Debian python3-torch/torchvision): each torchvision
# model is exported to ONNX at opsets 11, 13 and 17 with a dynamic batch axis (fixtures under
# build/fixtures, generated at test time, never committed) and kiln must reproduce PyTorch's
# output at batch 1 and 4.

set(KILN_TV_MODELS resnet18 resnet50 resnext50_32x4d wide_resnet50_2 googlenet inception_v3
    densenet121 mobilenet_v2 mobilenet_v3_large efficientnet_b0 shufflenet_v2_x1_0 squeezenet1_1
    mnasnet1_0 regnet_y_400mf alexnet vgg16_bn)
set(KILN_FIXTURES ${CMAKE_BINARY_DIR}/fixtures/torchvision)
foreach(m ${KILN_TV_MODELS})
  add_test(NAME export_${m}
           COMMAND ${KILN_PYTHON} ${CMAKE_SOURCE_DIR}/scripts/export_torchvision.py ${KILN_FIXTURES} ${m})
  set_tests_properties(export_${m} PROPERTIES FIXTURES_SETUP tv_${m} LABELS "diff" TIMEOUT 900
                       RESOURCE_LOCK torch_export)
  foreach(opset 11 13 17)
    add_test(NAME diff_${m}_opset${opset}
             COMMAND ${KILN_PYTHON} ${CMAKE_SOURCE_DIR}/tests/diff/diff_torchvision.py
                     $<TARGET_FILE:kiln_cli> ${KILN_FIXTURES}/${m} ${opset})
    set_tests_properties(diff_${m}_opset${opset} PROPERTIES FIXTURES_REQUIRED tv_${m}
                         LABELS "diff" TIMEOUT 900 SKIP_RETURN_CODE 77)
  endforeach()
endforeach()
